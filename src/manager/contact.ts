import {HttpSession} from '../channel/http-session.js'
import {isTetherError} from '../errors.js'
import {failpoint} from '../platform/failpoint.js'
import {AgentEventsReply, AgentStatusReply} from '../protocol/commands.js'
import {ManagerContext, command} from './activation.js'
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
    db.prepare("UPDATE computers SET host_info = json_set(coalesce(host_info, '{}'), '$.clock', ?) WHERE id = ?").run(status.clock, computer.id)
    recordAppliedConfiguration(db, computer.id, status.configuration)
    touchComputer(db, computer.id, now())
    await pullEvents(manager, session, computer)
    for (const operation of queuedOperations(db, computer.id)) {
      if (!(await deliver(manager, session, computer, operation))) break
    }
  } finally {
    session.close()
  }
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
    return true
  } catch (error) {
    finishOperation(db, operation.id, {ok: false, result: {error: (error as Error).message, code: isTetherError(error) ? error.code : undefined}})
    return !(isTetherError(error) && error.failure === 'unreachable')
  }
}

/**
 * Deliver queued work now where the manager may open the connection (manager-initiated or
 * bidirectional with a known address); otherwise it waits for the agent's next heartbeat.
 */
export async function contactNow(manager: ManagerContext, computer: Computer): Promise<{contacted: boolean; reason?: string}> {
  if (computer.mode === 'agent-initiated' || !computer.address) {
    return {contacted: false, reason: computer.mode === 'agent-initiated' ? 'agent-initiated mode: delivered at its next heartbeat' : 'no address for the agent: delivered at its next heartbeat'}
  }

  const {connectMutual} = await import('./activation.js')
  const {parseHostPort} = await import('../channel/connect.js')
  const {DEFAULT_AGENT_PORT} = await import('../platform/paths.js')
  try {
    const {host, port} = parseHostPort(computer.address, DEFAULT_AGENT_PORT)
    const socket = await connectMutual(manager.credentials, host, port, computer.certSha256 ?? undefined)
    await runContact(manager, new HttpSession(socket), computer)
    return {contacted: true}
  } catch (error) {
    return {contacted: false, reason: `${(error as Error).message}; delivered at its next contact`}
  }
}
