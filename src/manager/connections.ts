import type tls from 'node:tls'

import {connectTls, parseHostPort} from '../channel/connect.js'
import {HttpSession} from '../channel/http-session.js'
import {peerCertificate, skipHostnameCheck} from '../channel/tls.js'
import {TetherError} from '../errors.js'
import {fingerprint} from '../pki/certificate.js'
import {classifyPeer} from '../pki/peer.js'
import {DEFAULT_AGENT_PORT} from '../platform/paths.js'
import type {ManagerContext} from './context.js'
import type {ManagerCredentials, NodeCredentials} from './credentials.js'
import {currentCrl} from './revocation.js'
import type {Computer} from './store/store.js'

/** Connections the manager opens to agents (it is TLS client, and always HTTP client). */

/** The installation's trust anchors, for classifying a peer. */
export function trustAnchors(credentials: NodeCredentials) {
  return {ca: credentials.caCert, managers: [credentials.managerCert, ...(credentials.binding ? [credentials.binding.cert] : [])]}
}

/**
 * Connect to an activated agent over mutual TLS, pinned to the certificate we expect it to hold,
 * and (given the CRL) refusing a revoked one.
 */
export async function connectMutual(credentials: ManagerCredentials, host: string, port: number, expectedSha256?: string, crl?: string): Promise<tls.TLSSocket> {
  return connectTls({
    host,
    port,
    cert: credentials.managerCertPem,
    key: credentials.managerKeyPem,
    ca: credentials.caCertPem,
    ...(crl ? {overrides: {crl}} : {}),
    rejectUnauthorized: true,
    // Agents are identified by CA and certificate fingerprint, not by DNS name.
    checkServerIdentity: (_name, cert) =>
      expectedSha256 && cert.fingerprint256 !== expectedSha256
        ? new Error(`the agent presented certificate ${cert.fingerprint256}, expected ${expectedSha256}`)
        : undefined,
  })
}

/**
 * Open a contact with a known computer: TLS to its address, verified against the CA and the CRL
 * and pinned to its recorded certificate. When the agent presents something else, say what: the
 * bootstrap certificate means it was reset (the computer then needs reactivation).
 */
export async function openAgentConnection(ctx: ManagerContext, computer: Computer): Promise<HttpSession> {
  const {store, credentials} = ctx
  const {host, port} = parseHostPort(computer.address!, DEFAULT_AGENT_PORT)
  const socket = await connectTls({host, port, cert: credentials.managerCertPem, key: credentials.managerKeyPem, ca: credentials.caCertPem, rejectUnauthorized: false, checkServerIdentity: skipHostnameCheck, overrides: {crl: (await currentCrl(ctx)).pem}})
  const peer = peerCertificate(socket)
  const sha256 = peer ? fingerprint(peer) : undefined
  if (sha256 === computer.certSha256 && socket.authorized) return new HttpSession(socket)

  socket.destroy()
  const kind = classifyPeer(peer, trustAnchors(credentials))
  if (kind === 'bootstrap') {
    await store.computers.markReactivationRequired(computer.id)
    throw new TetherError('refused', 'agent-reset', `the agent of computer ${computer.id} at ${computer.address} was reset (it presents the bootstrap certificate)`, {
      hint: `activate it again: tether manager activate ${computer.address}`,
    })
  }

  if (sha256 === computer.certSha256) {
    throw new TetherError('trust', String(socket.authorizationError ?? 'unverified').toLowerCase(), `the certificate of computer ${computer.id} no longer verifies (${socket.authorizationError})`, {hint: 'it may be revoked or expired: reactivate the agent'})
  }

  throw new TetherError('trust', 'agent-certificate-changed', `the agent at ${computer.address} presents a certificate other than computer ${computer.id}'s (${kind})`, {
    hint: 'it was reactivated elsewhere or replaced: check `tether handshake inspect`',
  })
}
