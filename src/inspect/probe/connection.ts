import type tls from 'node:tls'

import type {AgentAnswer, FailureStage} from '../types.js'
import type {WireTap} from '../wire/tap.js'

/** What the probe saw of one connection, from the TCP connect to the peer's verdict on us. */

export type TlsError = NodeJS.ErrnoException & {reason?: string}

/** The TLS socket's view of an established handshake. */
export interface Snapshot {
  protocol?: string
  cipher?: tls.CipherNameAndProtocol
  keyExchange?: {type?: string; name?: string; size?: number}
  alpn?: string | false
  resumed?: boolean
  authorized: boolean
  authorizationError?: string
  chain: Buffer[]
}

/** After the handshake: did the peer refuse us (alert or close), or show it accepted (data)? */
export interface Aftermath {
  outcome: 'refused' | 'accepted' | 'quiet'
  error?: TlsError
}

export interface Connection {
  tap?: WireTap
  keyLog: Buffer[]
  sessionTickets: number
  snapshot?: Snapshot
  error?: TlsError
  stage?: FailureStage
  after?: Aftermath
  answer?: AgentAnswer
}

/** Read everything now: on Node 20 these getters crash the process once the socket is closed. */
export function snapshot(socket: tls.TLSSocket): Snapshot {
  const ephemeral = socket.getEphemeralKeyInfo()
  return {
    protocol: socket.getProtocol() ?? undefined,
    cipher: socket.getCipher(),
    keyExchange: ephemeral && 'type' in ephemeral ? {type: ephemeral.type, name: ephemeral.name, size: ephemeral.size} : undefined,
    alpn: socket.alpnProtocol ?? false,
    resumed: socket.isSessionReused(),
    authorized: socket.authorized,
    authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
    chain: peerChain(socket),
  }
}

/** The peer's chain as the TLS stack holds it, leaf first (completed from our trust store when it could). */
function peerChain(socket: tls.TLSSocket): Buffer[] {
  const chain: Buffer[] = []
  const seen = new Set<string>()
  for (let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); cert?.raw && !seen.has(cert.fingerprint256);) {
    chain.push(cert.raw)
    seen.add(cert.fingerprint256)
    cert = cert.issuerCertificate
  }

  return chain
}
