import type crypto from 'node:crypto'
import type tls from 'node:tls'

import {parseHostPort} from '../channel/address.js'
import {connectTls} from '../channel/connect.js'
import {HttpSession} from '../channel/http-session.js'
import {peerCertificate, skipHostnameCheck} from '../channel/tls.js'
import {TetherError} from '../errors.js'
import {fingerprint} from '../pki/certificate.js'
import {classifyPeer} from '../pki/peer.js'
import {DEFAULT_AGENT_PORT} from '../platform/paths.js'
import type {ManagerContext} from './context.js'
import {reload} from './computers.js'
import {withinGrace} from './certificate-life.js'
import {confirmRenewal} from './renewal.js'
import type {ManagerCredentials, NodeCredentials} from './credentials.js'
import {tlsCrls} from './revocation.js'
import {getSettings} from './settings.js'
import type {Computer, RenewedCertificate} from './store/store.js'

/** Connections the manager opens to agents (it is TLS client, and always HTTP client). */

/** The installation's trust anchors, for classifying a peer. */
export function trustAnchors(credentials: NodeCredentials) {
  return {cas: credentials.trustedCas, managers: [credentials.managerCert, ...(credentials.binding ? [credentials.binding.cert] : [])]}
}

/**
 * Connect to an activated agent over mutual TLS, pinned to the certificate we expect it to hold,
 * and (given the CRL) refusing a revoked one.
 */
export async function connectMutual(credentials: ManagerCredentials, host: string, port: number, expectedSha256?: string, crl?: string[]): Promise<tls.TLSSocket> {
  return connectTls({
    host,
    port,
    cert: `${credentials.managerCertPem}${credentials.chainPem}`,
    key: credentials.managerKeyPem,
    ca: credentials.trustedCasPem,
    ...(crl ? {overrides: {crl}} : {}),
    rejectUnauthorized: true,
    // Agents are identified by CA and certificate fingerprint, not by DNS name.
    checkServerIdentity: (_name, cert) =>
      expectedSha256 && cert.fingerprint256 !== expectedSha256
        ? new Error(`the agent presented certificate ${cert.fingerprint256}, expected ${expectedSha256}`)
        : undefined,
  })
}

/** A contact with a known computer, open: its session, and the computer as it now stands. */
export interface OpenContact {
  session: HttpSession
  computer: Computer
  /** Its certificate has expired (within the grace): the contact may only renew it. */
  expired: boolean
  peer: crypto.X509Certificate
}

/**
 * Open a contact with a known computer: TLS to its address, verified against the CA and the CRL
 * and pinned to its recorded certificate (or to the renewed one it was sent, which this confirms).
 * When the agent presents something else, say what: the bootstrap certificate means it was reset
 * (the computer then needs reactivation).
 */
export async function openAgentConnection(ctx: ManagerContext, computer: Computer): Promise<OpenContact> {
  const {store, credentials} = ctx
  const {host, port} = parseHostPort(computer.address!, DEFAULT_AGENT_PORT)
  const socket = await connectTls({host, port, cert: `${credentials.managerCertPem}${credentials.chainPem}`, key: credentials.managerKeyPem, ca: credentials.trustedCasPem, rejectUnauthorized: false, checkServerIdentity: skipHostnameCheck, overrides: {crl: await tlsCrls(ctx)}})
  const peer = peerCertificate(socket)
  const sha256 = peer ? fingerprint(peer) : undefined
  const expired = String(socket.authorizationError) === 'CERT_HAS_EXPIRED' && sha256 === computer.certSha256 && withinGrace(peer!.validTo, await getSettings(store), ctx.now())
  if (sha256 === computer.certSha256 && (socket.authorized || expired)) return {session: new HttpSession(socket), computer, expired, peer: peer!}
  if (sha256 && sha256 !== computer.certSha256 && socket.authorized && (await confirmRenewal(ctx, computer, renewedFrom(peer!)))) {
    // The agent installed a certificate it was sent at an earlier contact: confirmed now.
    return {session: new HttpSession(socket), computer: await reload(store, computer.id), expired: false, peer: peer!}
  }

  socket.destroy()
  const kind = classifyPeer(peer, trustAnchors(credentials))
  if (kind === 'bootstrap') {
    await store.computers.markReactivationRequired(computer.id)
    throw new TetherError('refused', 'agent-reset', `the agent of computer ${computer.id} at ${computer.address} was reset (it presents the bootstrap certificate)`, {
      hint: `activate it again: tether manager activate ${computer.address}`,
    })
  }

  if (sha256 === computer.certSha256) throw certificateRefused(computer, String(socket.authorizationError ?? 'unverified'), peer!)
  throw new TetherError('trust', 'agent-certificate-changed', `the agent at ${computer.address} presents a certificate other than computer ${computer.id}'s (${kind})`, {
    hint: 'it was reactivated elsewhere or replaced: check `tether handshake inspect`',
  })
}

/** The computer's own certificate, refused: say which problem it is, and only then what to do. */
export function certificateRefused(computer: Computer, code: string, peer: crypto.X509Certificate): TetherError {
  if (code === 'CERT_HAS_EXPIRED') {
    return new TetherError('trust', 'agent-certificate-expired', `the certificate of computer ${computer.id} expired on ${new Date(peer.validTo).toISOString()}, longer ago than the renewal grace (expiredRenewalGrace)`, {
      hint: `if it was only offline, lengthen the grace (tether manager settings set expiredRenewalGrace 365d) and it renews at its next contact; otherwise reactivate it: on the agent, dsa_control -r then dsa_control -a (or tether manager activate ${computer.address ?? 'HOST'} after the reset)`,
    })
  }

  return new TetherError('trust', code.toLowerCase(), `the certificate of computer ${computer.id} no longer verifies (${code})`, {hint: 'it may be revoked: `tether handshake inspect` says why'})
}

/** A renewed certificate as the agent presented it. */
export function renewedFrom(peer: crypto.X509Certificate): RenewedCertificate {
  return {sha256: fingerprint(peer), serial: peer.serialNumber.toUpperCase(), notBefore: new Date(peer.validFrom).toISOString(), notAfter: new Date(peer.validTo).toISOString()}
}

/** Manager-initiated: confirm a renewal over a new mutual-TLS connection pinned to the renewed certificate. */
export async function confirmOverNewConnection(ctx: ManagerContext, computer: Computer, renewed: RenewedCertificate): Promise<void> {
  const {host, port} = parseHostPort(computer.address!, DEFAULT_AGENT_PORT)
  const session = new HttpSession(await connectMutual(ctx.credentials, host, port, renewed.sha256, await tlsCrls(ctx)))
  try {
    const status = await session.command('GetAgentStatus')
    if (status.certificateSha256 === renewed.sha256) await confirmRenewal(ctx, computer, renewed)
  } finally {
    session.close()
  }
}
