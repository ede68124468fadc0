import type crypto from 'node:crypto'
import type tls from 'node:tls'

import {fingerprint, oneLineName} from '../pki/certificate.js'

/**
 * The handshake journal: every TLS handshake attempt either runtime takes part in, accepted or
 * refused, with a stable reason code. Each runtime keeps its own in its store (bounded there).
 */

export type SecurityContext = 'bootstrap' | 'pre-activated' | 'mutual'

export interface HandshakeEntry {
  tlsRole: 'client' | 'server'
  httpRole: 'client' | 'server'
  peerAddress?: string
  context: SecurityContext
  protocol?: string
  cipher?: string
  peerSha256?: string
  peerSubject?: string
  result: 'accepted' | 'refused' | 'failed'
  /** Stable, machine-readable: `ok`, `bound-to-other-manager`, `unknown-ca`, `no-client-certificate`, ... */
  reason: string
  detail?: string
}

export interface JournalRow extends HandshakeEntry {
  id: number
  at: string
}

/** The journal fields an established (or failed) TLS socket and its peer certificate give. */
export function describeSocket(socket: tls.TLSSocket, peer?: crypto.X509Certificate): Pick<HandshakeEntry, 'peerAddress' | 'protocol' | 'cipher' | 'peerSha256' | 'peerSubject'> {
  return {
    peerAddress: socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : undefined,
    protocol: socket.getProtocol?.() ?? undefined,
    cipher: socket.getCipher?.()?.name,
    peerSha256: peer ? fingerprint(peer) : undefined,
    peerSubject: peer ? oneLineName(peer.subject) : undefined,
  }
}

/** Where a runtime writes its journal entries (its own store); recording never throws. */
export interface HandshakeJournal {
  record(entry: HandshakeEntry): void
}

/** Map an OpenSSL / Node TLS error to a stable reason code and a plain sentence. */
export function classifyTlsError(error: Error & {code?: string; reason?: string}): {reason: string; detail: string} {
  const text = `${error.code ?? ''} ${error.message}`
  const table: Array<[RegExp, string]> = [
    [/peer did not return a certificate|PEER_DID_NOT_RETURN_A_CERTIFICATE|certificate required|CERTIFICATE_REQUIRED/i, 'no-client-certificate'],
    [/unknown ca|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to get local issuer|unable to verify the first certificate|UNKNOWN_CA/i, 'unknown-ca'],
    [/self[- ]signed|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN/i, 'self-signed'],
    // Before `expired`: a CRL past its nextUpdate says nothing about the certificate.
    [/CRL_HAS_EXPIRED|CRL has expired/i, 'crl-expired'],
    [/CRL_NOT_YET_VALID|CRL is not yet valid/i, 'crl-not-yet-valid'],
    [/expired|CERT_HAS_EXPIRED/i, 'expired'],
    [/not yet valid|CERT_NOT_YET_VALID/i, 'not-yet-valid'],
    [/revoked|CERT_REVOKED/i, 'revoked'],
    [/UNABLE_TO_GET_CRL|unable to get certificate CRL/i, 'crl-unavailable'],
    [/unsupported protocol|wrong version number|UNSUPPORTED_PROTOCOL|protocol version|VERSION_TOO_LOW/i, 'protocol-version'],
    [/no shared cipher|NO_SHARED_CIPHER|handshake failure|NO_CIPHERS/i, 'no-shared-cipher'],
    [/bad certificate|BAD_CERTIFICATE|certificate verify failed|CERTIFICATE_VERIFY_FAILED|signature/i, 'bad-certificate'],
    [/ECONNRESET|socket hang up|EPIPE/i, 'connection-reset'],
    [/ECONNREFUSED/i, 'connection-refused'],
    [/ERR_TLS_HANDSHAKE_TIMEOUT|handshake timeout/i, 'handshake-timeout'],
    [/ETIMEDOUT|timed out/i, 'timeout'],
  ]
  for (const [pattern, reason] of table) if (pattern.test(text)) return {reason, detail: error.message}
  return {reason: 'tls-error', detail: error.message}
}
