import type crypto from 'node:crypto'
import type tls from 'node:tls'

import {parseHostPort} from '../channel/address.js'
import {connectTls} from '../channel/connect.js'
import {HttpSession} from '../channel/http-session.js'
import {HandshakeEntry, describeSocket} from '../channel/journal.js'
import {peerCertificate} from '../channel/tls.js'
import {TetherError} from '../errors.js'
import {commonName, fingerprint, oneLineName} from '../pki/certificate.js'
import {classifyPeer} from '../pki/peer.js'
import {bodyLimitsFor} from '../protocol/codec.js'
import {DEFAULT_AGENT_PORT} from '../platform/paths.js'
import {ActivationRequest, ActivationResult, completeActivation, duplicatePlan} from './activation.js'
import {checkClockSkew} from './clock.js'
import {connectMutual, trustAnchors} from './connections.js'
import type {ManagerContext} from './context.js'
import {newGuid} from './guid.js'
import {managerJournal} from './journal.js'
import {reactivateAsNewComputer} from './reactivation.js'
import {tlsCrls} from './revocation.js'
import {heartbeatCommunication} from './heartbeat-addresses.js'
import {getSettings} from './settings.js'

/**
 * `tether manager activate HOST[:PORT]`: the manager connects to the agent (TLS client, HTTP
 * client). An agent still in the bootstrap context is activated; one this manager already
 * activated is confirmed and left as it is; one of another manager is refused.
 */

type JournalFields = Pick<HandshakeEntry, 'context' | 'result' | 'reason'> & Partial<HandshakeEntry>

/**
 * The certificate the manager shows an agent: its current one; on PostgreSQL the installation's
 * binding identity, which every node holds for agents bound to the installation; or the previous
 * one an agent bound before the last renewal still holds.
 */
interface Presented {
  certPem: string
  keyPem: string
}

function presentable(credentials: ManagerContext['credentials']): Presented[] {
  const current = {certPem: credentials.managerCertPem, keyPem: credentials.managerKeyPem}
  const all = [current, ...(credentials.binding ? [credentials.binding] : []), ...(credentials.previous ? [credentials.previous] : [])]
  return all.filter((candidate, i) => all.findIndex((other) => other.certPem === candidate.certPem) === i)
}

export async function activate(ctx: ManagerContext, target: string, request: ActivationRequest = {}): Promise<ActivationResult> {
  const candidates = presentable(ctx.credentials)
  for (let i = 0; ; i++) {
    try {
      return await activateAs(ctx, target, request, candidates[i], {moreToTry: i < candidates.length - 1})
    } catch (error) {
      // Bound to another of this installation's certificates: the next one is tried.
      if (!(error instanceof TetherError && error.code === 'bound-to-other-manager') || i === candidates.length - 1) throw error
    }
  }
}

async function activateAs(ctx: ManagerContext, target: string, request: ActivationRequest, presented: Presented, options: {moreToTry: boolean}): Promise<ActivationResult> {
  const {host, port} = parseHostPort(target, DEFAULT_AGENT_PORT)
  const {credentials} = ctx
  const socket = await connectTls({host, port, cert: presented.certPem, key: presented.keyPem, rejectUnauthorized: false})
  const peer = peerCertificate(socket)
  const journal = managerJournal(ctx)
  const record = (entry: JournalFields) => journal.record({tlsRole: 'client', httpRole: 'client', ...describeSocket(socket, peer), ...entry})
  const kind = classifyPeer(peer, trustAnchors(credentials))
  if (kind === 'own-agent') {
    socket.destroy()
    return confirmOwnAgent(ctx, peer!, {host, port}, request, record)
  }

  if (kind === 'own-manager') {
    socket.destroy()
    record({context: 'mutual', result: 'refused', reason: 'manager-certificate-as-agent'})
    throw new TetherError('trust', 'manager-certificate-as-agent', `the server at ${host}:${port} presents a manager certificate of this installation, not an agent's`, {hint: 'check the address: that is a manager, not an agent'})
  }

  if (kind !== 'bootstrap') {
    socket.destroy()
    record({context: 'mutual', result: 'refused', reason: 'agent-owned-by-other-manager'})
    throw new TetherError('refused', 'agent-owned-by-other-manager', `the agent at ${host}:${port} is activated by another manager (its certificate is issued by ${peer ? oneLineName(peer.issuer) : 'nobody'})`, {
      hint: 'deactivate it on that manager, or reset it on the agent (`dsa_control -r`), then activate again',
    })
  }

  record({context: 'bootstrap', result: 'accepted', reason: 'ok'})
  // The agent presents the public bootstrap key: it proved nothing, so the small body caps.
  const session = new HttpSession(socket, bodyLimitsFor('unauthenticated'))
  try {
    const computer = await activateBootstrapAgent(ctx, session, {host, port}, request, presented)
    return {computer, alreadyActivated: false}
  } catch (error) {
    if (error instanceof TetherError && error.code === 'bound-to-other-manager') {
      // Refused for this certificate while another of the installation's is left: expected, and tried next.
      const expected = options.moreToTry
      record({context: 'pre-activated', result: 'refused', reason: expected ? 'bound-to-previous-certificate' : error.code, detail: error.message})
    }

    throw error
  } finally {
    session.close()
  }
}

async function activateBootstrapAgent(ctx: ManagerContext, session: HttpSession, where: {host: string; port: number}, request: ActivationRequest, presented: Presented) {
  const settings = await getSettings(ctx.store)
  const address = `${where.host}:${where.port}`
  const hostInfo = await session.command('GetHostInfo')
  checkClockSkew(hostInfo.clock, ctx.now(), settings.maxClockSkewSeconds * 1000)
  const duplicate = await duplicatePlan(ctx, request.hostname ?? hostInfo.hostname)
  const confirm = async (expectedSha256: string) => {
    const mutual = new HttpSession(await connectMutual(ctx.credentials, where.host, where.port, expectedSha256))
    try {
      return await mutual.command('GetAgentStatus')
    } finally {
      mutual.close()
    }
  }

  return completeActivation(ctx, {session, confirm, managerCertPem: presented.certPem}, hostInfo, {
    ...request,
    ...duplicate,
    address,
    communication: {...(await heartbeatCommunication(ctx)), mode: request.mode ?? 'bidirectional', heartbeatSeconds: settings.heartbeatIntervalSeconds},
  })
}

/** Already ours: confirm over a properly verified mutual connection, record, change nothing. */
async function confirmOwnAgent(ctx: ManagerContext, peer: crypto.X509Certificate, where: {host: string; port: number}, request: ActivationRequest, record: (entry: JournalFields) => void): Promise<ActivationResult> {
  const {store} = ctx
  const address = `${where.host}:${where.port}`
  const sha256 = fingerprint(peer)
  if (await store.certificates.isRevoked(sha256)) {
    record({context: 'mutual', result: 'refused', reason: 'revoked'})
    throw new TetherError('trust', 'revoked', `the agent at ${address} holds a certificate this manager revoked (it was deactivated)`, {
      hint: 'reset the agent (`dsa_control -r`), then activate it again',
    })
  }

  const mutual: tls.TLSSocket = await connectMutual(ctx.credentials, where.host, where.port, sha256, await tlsCrls(ctx))
  const session = new HttpSession(mutual)
  try {
    const status = await session.command('GetAgentStatus')
    record({context: 'mutual', result: 'accepted', reason: 'already-activated'})
    const known = await store.computers.byCertificate(sha256)
    if (known) return {computer: known, alreadyActivated: true}
    if (!(await store.certificates.isIssued(sha256))) {
      // Unknown to this registry (e.g. restored from an older backup): the reactivation setting decides.
      const computer = await reactivateAsNewComputer(ctx, session, 'unknown', {address, displayName: request.displayName})
      record({context: 'mutual', result: 'accepted', reason: 'reactivated-unknown'})
      return {computer, alreadyActivated: false}
    }

    // Issued but never recorded: a previous activation was cut off after the agent committed.
    const info = await session.command('GetHostInfo')
    const computer = await store.computers.recordActivation({
      guid: commonName(peer) ?? newGuid(),
      hostname: status.hostname,
      address,
      displayName: request.displayName,
      mode: request.mode ?? 'bidirectional',
      hostInfo: info as unknown as Record<string, unknown>,
      certSerial: peer.serialNumber.toUpperCase(),
      certNotBefore: new Date(peer.validFrom).toISOString(),
      certNotAfter: new Date(peer.validTo).toISOString(),
      certSha256: sha256,
    }, ctx.now())
    return {computer, alreadyActivated: true}
  } finally {
    session.close()
  }
}
