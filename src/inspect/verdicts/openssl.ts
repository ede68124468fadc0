import type crypto from 'node:crypto'

import {classifyTlsError} from '../../channel/journal.js'
import {issuedBy, validityProblem} from '../../pki/certificate.js'
import type {TlsError} from '../probe/connection.js'
import type {OpensslError} from '../types.js'

/** OpenSSL's words for what went wrong, and tether's reason codes for them. */

const VERIFY_RESULTS: Record<string, number> = {
  UNABLE_TO_GET_ISSUER_CERT: 2,
  CERT_SIGNATURE_FAILURE: 7,
  CERT_NOT_YET_VALID: 9,
  CERT_HAS_EXPIRED: 10,
  DEPTH_ZERO_SELF_SIGNED_CERT: 18,
  SELF_SIGNED_CERT_IN_CHAIN: 19,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 20,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 21,
  CERT_CHAIN_TOO_LONG: 22,
  CERT_REVOKED: 23,
  INVALID_CA: 24,
  INVALID_PURPOSE: 26,
  CERT_UNTRUSTED: 27,
  CERT_REJECTED: 28,
}

/** A verification code (`CERT_HAS_EXPIRED`) as a reason and OpenSSL's own name and number for it. */
export function verifyCode(code: string): {reason: string; openssl: OpensslError} {
  // A chain that ends in a root we do not trust is another CA's, not a self-signed peer.
  const reason = code === 'CERT_SIGNATURE_FAILURE' ? 'bad-signature' : code === 'SELF_SIGNED_CERT_IN_CHAIN' ? 'unknown-ca' : classifyTlsError(Object.assign(new Error(code), {code})).reason
  return {reason: reason === 'tls-error' ? 'untrusted' : reason, openssl: {code: `X509_V_ERR_${code}`, verifyResult: VERIFY_RESULTS[code]}}
}

/** OpenSSL's error, as precisely as Node passes it on: its code, the packed error and the alert number. */
export function opensslOf(error: TlsError | undefined): OpensslError | undefined {
  if (!error) return undefined
  const packed = /error:([0-9A-F]{8})/i.exec(error.message)?.[1]
  const alert = /SSL alert number (\d+)/.exec(error.message)?.[1]
  if (!packed && !alert && !error.code?.startsWith('ERR_SSL')) return error.code ? {code: error.code} : undefined
  return {code: error.code, error: packed ? `error:${packed.toUpperCase()}` : undefined, alert: alert ? Number(alert) : undefined}
}

/** What OpenSSL would say about the chain, for a handshake that failed before Node could tell us. */
export function verifyLocally(chain: crypto.X509Certificate[], anchor: crypto.X509Certificate, now: Date): string | undefined {
  const [leaf] = chain
  const problem = validityProblem(leaf, now)
  if (problem) return problem === 'expired' ? 'CERT_HAS_EXPIRED' : 'CERT_NOT_YET_VALID'
  if (leaf.raw.equals(anchor.raw) || issuedBy(leaf, anchor)) return undefined
  if (chain.slice(1).some((intermediate) => issuedBy(leaf, intermediate) && issuedBy(intermediate, anchor))) return undefined
  if (leaf.checkIssued(leaf) && leaf.verify(leaf.publicKey)) return 'DEPTH_ZERO_SELF_SIGNED_CERT'
  return 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
}
