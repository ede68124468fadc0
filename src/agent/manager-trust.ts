import type crypto from 'node:crypto'

import {TetherError} from '../errors.js'
import {fingerprint, issuedBy, parseCertificate, validityProblem} from '../pki/certificate.js'
import {CrlSummary, readCrl, readVerifiedCrl} from '../pki/crl.js'
import {pemBlocks} from '../pki/pem.js'
import {hasManagerRole} from '../pki/roles.js'
import {DSA_FILES, DsaCore} from './store.js'

/**
 * Whom an activated agent accepts as its manager: a certificate with the manager role, issued by
 * its CA, not revoked by the CRL the manager last delivered. Another agent's certificate (same CA,
 * no role) is not a manager. The CRL's own dates are not enforced: a copy gone stale while the agent
 * was offline still refuses what it lists and accepts the rest, and the next contact refreshes it.
 * The same rule for the TLS peer, in both directions, and for the signer of a configuration.
 */

export type ManagerVerdict = {ok: true} | {ok: false; reason: string; detail: string}

/** The number of a CRL (0 when it has none). */
export function crlNumber(crl: CrlSummary | undefined): number {
  return Number(crl?.number ?? 0n)
}

/** The CA certificates this agent trusts (one; two while its manager rotates the CA). */
export function trustedCas(store: DsaCore): crypto.X509Certificate[] {
  const pem = store.read('dsmCaCert')
  if (pem === undefined) return []
  return pemBlocks(pem).filter((b) => b.label === 'CERTIFICATE').map((b) => parseCertificate(b.text, DSA_FILES.dsmCaCert))
}

/** The delivered CRL, or undefined before the first delivery (an agent activated by an older manager). */
export function heldCrl(store: DsaCore): CrlSummary | undefined {
  const pem = store.read('crl')
  if (pem === undefined) return undefined
  try {
    return readCrl(pem)
  } catch (error) {
    // Written only after verification, so a damaged file is damage: say so, never ignore it.
    throw new TetherError('internal', 'dsa-core-damaged', `the agent's CRL ${store.file('crl')} is damaged`, {hint: 'the next contact with the manager replaces it; or reset the agent', cause: error})
  }
}

export function judgeManager(store: DsaCore, peer: crypto.X509Certificate | undefined, now: Date): ManagerVerdict {
  if (!peer) return {ok: false, reason: 'no-certificate', detail: 'the manager presented no certificate'}
  const cas = trustedCas(store)
  if (!cas.some((ca) => issuedBy(peer, ca)) && !crossSigned(peer, cas, now)) return {ok: false, reason: 'unknown-ca', detail: `the certificate SHA-256 ${fingerprint(peer)} is not issued by this agent's CA`}
  if (!hasManagerRole(peer)) {
    return {ok: false, reason: 'not-a-manager', detail: `the certificate SHA-256 ${fingerprint(peer)} is of this agent's CA but has no manager role (another agent's certificate?)`}
  }

  const problem = validityProblem(peer, now)
  if (problem) return {ok: false, reason: problem, detail: `the manager certificate is ${problem.replace('-', ' ')} (valid ${peer.validFrom} to ${peer.validTo})`}
  const serial = peer.serialNumber.toUpperCase()
  if (heldCrl(store)?.revoked.some((entry) => entry.serial === serial)) {
    return {ok: false, reason: 'revoked', detail: `the manager certificate (serial ${peer.serialNumber}) is revoked by the CRL this agent holds`}
  }

  return {ok: true}
}

/**
 * A manager certificate of the new CA, during a CA rotation, seen by an agent that holds only the
 * old one: the manager presents the new CA's certificate cross-signed by the old CA behind it.
 */
function crossSigned(peer: crypto.X509Certificate, cas: crypto.X509Certificate[], now: Date): boolean {
  const intermediate = peer.issuerCertificate
  if (!intermediate?.ca || intermediate.raw.equals(peer.raw) || !issuedBy(peer, intermediate)) return false
  return cas.some((ca) => !ca.raw.equals(intermediate.raw) && issuedBy(intermediate, ca)) && validityProblem(intermediate, now) === undefined
}

/** A CRL delivered by the manager: signed by one of this agent's CAs, and not older than the one held. */
export function acceptCrl(store: DsaCore, pem: string, cas: crypto.X509Certificate[] = trustedCas(store)): CrlSummary {
  let contents: CrlSummary | undefined
  let failure: unknown
  for (const ca of cas) {
    try {
      contents = readVerifiedCrl(pem, ca)
      break
    } catch (error) {
      failure = error
    }
  }

  if (!contents) throw failure instanceof TetherError ? failure : new TetherError('trust', 'crl-invalid', 'the CRL is not signed by this agent\'s CA')
  return contents
}
