import type crypto from 'node:crypto'
import type tls from 'node:tls'

import {LruCache} from '../platform/lru-cache.js'
import {fingerprint} from '../pki/certificate.js'

/**
 * TLS policy for every manager-agent channel: TLS 1.2 minimum and only forward-secret AEAD suites
 * (ECDHE with AES-GCM or ChaCha20-Poly1305; TLS 1.3's suites are all of that kind). Set explicitly
 * rather than trusting the platform's defaults.
 */
export const TLS_MIN_VERSION: tls.SecureVersion = 'TLSv1.2'

export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':')

export const TLS_CURVES = 'X25519:P-256:P-384'

export const TLS_POLICY = {
  minVersion: TLS_MIN_VERSION,
  ciphers: TLS_CIPHERS,
  ecdhCurve: TLS_CURVES,
  honorCipherOrder: true,
} as const

/**
 * Parsed peer certificates by their DER: agents reconnect with the same certificate, and building
 * the X509Certificate after a full handshake costs ~0.2 ms (its chain with it), the raw bytes
 * ~0.05. A resumed session has no chain and is cheap to parse as is. Bounded: the least recently
 * used goes first.
 */
const parsedPeers = new LruCache<string, crypto.X509Certificate>(1024)

/** The peer's leaf certificate on an established socket, if it sent one. */
export function peerCertificate(socket: tls.TLSSocket): crypto.X509Certificate | undefined {
  if (socket.isSessionReused()) return socket.getPeerX509Certificate() ?? undefined
  const raw = socket.getPeerCertificate()?.raw
  if (!raw) return socket.getPeerX509Certificate() ?? undefined
  const key = raw.toString('base64')
  const kept = parsedPeers.get(key)
  if (kept) return kept
  const parsed = socket.getPeerX509Certificate()
  if (!parsed?.raw.equals(raw)) return parsed ?? undefined
  parsedPeers.set(key, parsed)
  return parsed
}

export function peerFingerprint(socket: tls.TLSSocket): string | undefined {
  const cert = peerCertificate(socket)
  return cert ? fingerprint(cert) : undefined
}

/** Identity of an agent is pinned by CA and fingerprint, not by hostname: skip name matching. */
export function skipHostnameCheck(): undefined {
  return undefined
}
