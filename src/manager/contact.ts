import {connectTls, parseHostPort} from '../channel/connect.js'
import {HttpSession} from '../channel/http-session.js'
import {peerCertificate, skipHostnameCheck} from '../channel/tls.js'
import {TetherError, isTetherError} from '../errors.js'
import {fingerprint} from '../pki/inspect.js'
import {DEFAULT_AGENT_PORT} from '../platform/paths.js'
import {failpoint} from '../platform/failpoint.js'
import {AgentEventsReply, AgentStatusReply} from '../protocol/commands.js'
import {ManagerContext, classifyPeer, command} from './activation.js'
import {currentCrl} from './revocation.js'
import {Computer, recordAppliedConfiguration, touchComputer} from './computers.js'
import {storeAgentEvents} from './events.js'
import {Operation, finishOperation, queuedOperations} from './operations.js'
import {configurationCommandBody} from './policies.js'

/**
 * One contact with an activated agent, whoever opened the connection: read its status, pick up
 * its events, run the operations queued for it, close. The manager is the HTTP client throughout.
 */

const EVENT_BATCH = 500

export async function runContact(manager: ManagerContext, session: HttpSession, computer: Computer, now: () => Date = () => new Date()): Promise<void> {
  const {db} = manager
  try {
    const status = await command<AgentStatusReply>(session, 'GetAgentStatus')
    const recordedHostname = (computer.hostInfo as {hostname?: string} | null)?.hostname
    if (recordedHostname && status.hostname !== recordedHostname) {
      // The certificate of one computer, reported from another host: a clone.
      const {reactivateAsNewComputer} = await import('./reactivation.js')
      try {
        await reactivateAsNewComputer(manager, session, 'cloned', {original: computer})
      } catch (error) {
        await reportRefusal(session, error)
        throw error
      }

      return
    }

    db.prepare("UPDATE computers SET host_info = json_set(coalesce(host_info, '{}'), '$.clock', ?) WHERE id = ?").run(status.clock, computer.id)
    recordAppliedConfiguration(db, computer.id, status.configuration)
    touchComputer(db, computer.id, now())
    await pullEvents(manager, session, computer)
    const operations = queuedOperations(db, computer.id)
    for (const operation of operations) {
      if (!(await deliver(manager, session, computer, operation))) return
    }

    // What the operations caused (configuration applied or rejected) is picked up in the same contact.
    if (operations.length > 0) await pullEvents(manager, session, computer)
  } finally {
    session.close()
  }
}

/** Tell the agent why it is refused (it only answers; this is the manager's last request). */
export async function reportRefusal(session: HttpSession, error: unknown): Promise<void> {
  if (!isTetherError(error)) return
  await command(session, 'ReportActivationResult', {status: 403, reason: error.code, message: error.message, hint: error.hint}).catch(() => undefined)
}

/**
 * Pull, store, then acknowledge: the agent drops only what the manager has committed, and the
 * manager ignores a re-delivered event, so a crash on either side between the steps loses nothing
 * and duplicates nothing.
 */
export async function pullEvents(manager: ManagerContext, session: HttpSession, computer: Computer): Promise<number> {
  let stored = 0
  for (;;) {
    const reply = await command<AgentEventsReply>(session, 'GetAgentEvents', {limit: EVENT_BATCH})
    if (reply.events.length === 0) return stored
    failpoint('manager-events:pulled')
    stored += storeAgentEvents(manager.db, computer.id, reply)
    failpoint('manager-events:stored')
    await command(session, 'AckAgentEvents', {instance: reply.instance, through: reply.events.at(-1)!.id})
    if (!reply.more) return stored
  }
}

/** Send one queued operation; false when the session is no longer usable. */
async function deliver(manager: ManagerContext, session: HttpSession, computer: Computer, operation: Operation): Promise<boolean> {
  const {db} = manager
  try {
    // A configuration is encrypted at send time, to the certificate the agent holds now.
    const body = operation.command === 'SetSecurityConfiguration' ? configurationCommandBody(db, computer).body : operation.body
    const result = await command<Record<string, unknown>>(session, operation.command, body)
    if (operation.command === 'SetSecurityConfiguration') recordAppliedConfiguration(db, computer.id, result as {policy: string; version: number; sha256: string})
    finishOperation(db, operation.id, {ok: true, result})
    if (operation.command === 'Deactivate') {
      // The agent is back to bootstrap: its certificate is now revoked, and nothing more is sent.
      const {finishDeactivation} = await import('./deactivation.js')
      finishDeactivation(manager, computer)
      return false
    }

    return true
  } catch (error) {
    finishOperation(db, operation.id, {ok: false, result: {error: (error as Error).message, code: isTetherError(error) ? error.code : undefined}})
    return !(isTetherError(error) && error.failure === 'unreachable')
  }
}

/**
 * Open a contact with a known computer: TLS to its address, verified against the CA and the CRL
 * and pinned to its recorded certificate. When the agent presents something else, say what: the
 * bootstrap certificate means it was reset (the computer then needs reactivation).
 */
export async function openAgentConnection(manager: ManagerContext, computer: Computer): Promise<HttpSession> {
  const {db, credentials} = manager
  const {host, port} = parseHostPort(computer.address!, DEFAULT_AGENT_PORT)
  const socket = await connectTls({host, port, cert: credentials.managerCertPem, key: credentials.managerKeyPem, ca: credentials.caCertPem, rejectUnauthorized: false, checkServerIdentity: skipHostnameCheck, overrides: {crl: currentCrl(db, credentials)}})
  const peer = peerCertificate(socket)
  const sha256 = peer ? fingerprint(peer) : undefined
  if (sha256 !== computer.certSha256 || !socket.authorized) {
    socket.destroy()
    const kind = classifyPeer(peer, credentials)
    if (kind === 'bootstrap') {
      db.prepare("UPDATE computers SET state = 'reactivation-required' WHERE id = ? AND state = 'activated'").run(computer.id)
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

  return new HttpSession(socket)
}

/**
 * Deliver queued work now where the manager may open the connection (manager-initiated or
 * bidirectional with a known address); otherwise it waits for the agent's next heartbeat.
 */
export async function contactNow(manager: ManagerContext, computer: Computer): Promise<{contacted: boolean; reason?: string}> {
  if (computer.mode === 'agent-initiated' || !computer.address) {
    return {contacted: false, reason: computer.mode === 'agent-initiated' ? 'agent-initiated mode: delivered at its next heartbeat' : 'no address for the agent: delivered at its next heartbeat'}
  }

  try {
    await runContact(manager, await openAgentConnection(manager, computer), computer)
    return {contacted: true}
  } catch (error) {
    return {contacted: false, reason: `${(error as Error).message}; delivered at its next contact`}
  }
}
