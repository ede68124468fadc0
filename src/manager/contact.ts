import type crypto from 'node:crypto'

import type {HttpSession} from '../channel/http-session.js'
import {fingerprint, issuedBy} from '../pki/certificate.js'
import {isTetherError} from '../errors.js'
import {failpoint} from '../platform/failpoint.js'
import type {HeartbeatRequest, Reply} from '../protocol/messages.js'
import {confirmOverNewConnection, openAgentConnection} from './connections.js'
import type {ManagerContext} from './context.js'
import {applyHeartbeatRequest} from './operator-words.js'
import {syncHeartbeatAddresses} from './heartbeat-addresses.js'
import {alreadyApplied, claimOperations} from './leases.js'
import {configurationCommandBody} from './policies.js'
import {reactivateAsNewComputer} from './reactivation.js'
import {renewalDue} from './certificate-life.js'
import {renewCertificate} from './renewal.js'
import {getSettings} from './settings.js'
import {currentCrl} from './revocation.js'
import type {Computer, Operation, RenewedCertificate} from './store/store.js'

/**
 * One contact with an activated agent, whoever opened the connection: read its status, pick up
 * its events, run the operations queued for it, close. The manager is the HTTP client throughout.
 * The contact reports what it did; what follows from it (finishing a deactivation) is the caller's.
 */

const EVENT_BATCH = 500

/** Each queued operation is tried at most this many times. */
export const MAX_ATTEMPTS = 5

export interface ContactReport {
  /** The deactivation is over: the agent cleared its credentials, or refused to; either way its certificate is revoked now. */
  deactivated: boolean
  /** The agent installed this renewed certificate; it is the computer's once the agent presents it. */
  renewed?: RenewedCertificate
}

export interface ContactOptions {
  /** The agent presented its certificate expired (within the grace): it may only renew. */
  expired?: boolean
  /** The certificate the agent presented: during a CA rotation, one of the other CA is renewed onto the issuing one. */
  peer?: crypto.X509Certificate
}

export async function runContact(ctx: ManagerContext, session: HttpSession, computer: Computer, options: ContactOptions = {}): Promise<ContactReport> {
  try {
    if (computer.state === 'deactivation-pending') return await deactivateNow(ctx, session, computer)
    const status = await session.command('GetAgentStatus')
    const recordedHostname = (computer.hostInfo as {hostname?: string} | null)?.hostname
    if (recordedHostname && status.hostname !== recordedHostname) {
      // The certificate of one computer, reported from another host: a clone.
      try {
        await reactivateAsNewComputer(ctx, session, 'cloned', {original: computer})
      } catch (error) {
        await reportRefusal(session, error)
        throw error
      }

      return {deactivated: false}
    }

    if (options.expired) return {deactivated: false, renewed: await renewCertificate(ctx, session, computer)}
    await ctx.store.computers.recordContact(computer.id, {at: ctx.now(), clock: status.clock, applied: status.configuration})
    // The CAs first: during a CA rotation what follows (a CRL, a renewal) may be the new CA's.
    await deliverTrustBundle(ctx, session, status.trustedCaSha256)
    await deliverCrl(ctx, session, status.crlNumber)
    // dsa_control -m words: what the operator asked, applied before the queue is read.
    if (status.heartbeatRequest) computer = await answerHeartbeatRequest(ctx, session, computer, status.heartbeatRequest)
    // Read once for the rest of the contact: the addresses, the claim's lease, the renewal point.
    const settings = await getSettings(ctx.store)
    await syncHeartbeatAddresses(ctx, session, status, settings)
    // One exchange fewer when the agent says nothing is waiting (one of an earlier version does not say).
    if (status.eventsWaiting !== false) await pullEvents(ctx, session, computer)
    // Claimed for this contact: one through another node at the same moment delivers none of them.
    const {operations, release} = await claimOperations(ctx, computer, settings)
    if (operations.length > 0) failpoint('manager-contact:claimed')
    try {
      for (const operation of operations) {
        if (await alreadyApplied(ctx, computer, operation, status)) continue
        const delivered = await deliver(ctx, session, computer, operation)
        if (delivered === 'deactivated') return {deactivated: true}
        if (delivered === 'session-lost') return {deactivated: false}
      }
    } finally {
      await release().catch(() => undefined)
    }

    // What the operations caused (configuration applied or rejected) is picked up in the same contact.
    if (operations.length > 0) await pullEvents(ctx, session, computer)
    // Last, once everything else is done: the new certificate counts from the next connection.
    if (renewalDue(computer, settings, ctx.now()) || onOtherCa(ctx, options.peer)) return {deactivated: false, renewed: await renewCertificate(ctx, session, computer)}
    return {deactivated: false}
  } finally {
    session.close()
  }
}

/**
 * A computer being deactivated: its certificate serves nothing but the Deactivate. An agent that
 * answers it with an error (or breaks off) does not keep its certificate: it is revoked all the same.
 */
async function deactivateNow(ctx: ManagerContext, session: HttpSession, computer: Computer): Promise<ContactReport> {
  const operation = (await ctx.store.operations.queued(computer.id)).find((op) => op.command === 'Deactivate')
  try {
    const result = await session.command('Deactivate')
    if (operation) await ctx.store.operations.finish(operation.id, {ok: true, result, maxAttempts: MAX_ATTEMPTS}, ctx.now())
  } catch (error) {
    if (operation) await ctx.store.operations.finish(operation.id, {ok: false, result: {error: (error as Error).message}, maxAttempts: 1}, ctx.now())
    ctx.log.warn('deactivation-refused-by-agent', {computer: computer.id, hostname: computer.hostname, reason: isTetherError(error) ? error.code : 'failed', detail: (error as Error).message})
  }

  return {deactivated: true}
}

/** An agent whose trusted CAs are not the manager's (a CA rotation began, was retired or rolled back) is given them. */
async function deliverTrustBundle(ctx: ManagerContext, session: HttpSession, held: string[] | undefined): Promise<void> {
  // An agent of an earlier version does not say, and has no command to take them.
  if (held === undefined) return
  const trusted = ctx.credentials.trustedCas.map((ca) => fingerprint(ca))
  if (held.length === trusted.length && trusted.every((sha256) => held.includes(sha256))) return
  await session.command('SetTrustBundle', {certificate: ctx.credentials.trustedCasPem})
}

/** A certificate of a CA other than the issuing one, while both are trusted: moved over at this contact. */
function onOtherCa(ctx: ManagerContext, peer: crypto.X509Certificate | undefined): boolean {
  return peer !== undefined && ctx.credentials.trustedCas.length > 1 && !issuedBy(peer, ctx.credentials.caCert)
}

/** The agent holds an older CRL than the one in force: give it the current one (one more exchange, only then). */
async function deliverCrl(ctx: ManagerContext, session: HttpSession, held: number | undefined): Promise<void> {
  // An agent of an earlier version reports no CRL and has no command to take one.
  if (held === undefined) return
  const crl = await currentCrl(ctx)
  if (held < crl.number) await session.command('SetRevocationList', {crl: crl.pem})
}

/** dsa_control -m words the agent passed on: applied now; what could not be, told back as warnings. */
async function answerHeartbeatRequest(ctx: ManagerContext, session: HttpSession, computer: Computer, request: HeartbeatRequest): Promise<Computer> {
  const applied = await applyHeartbeatRequest(ctx, computer, request)
  if (applied.warnings.length > 0) await session.command('ReportActivationResult', {status: 200, reason: 'OK', message: 'heartbeat request applied', warnings: applied.warnings}).catch(() => undefined)
  return applied.computer
}

/** Tell the agent why it is refused (it only answers; this is the manager's last request). */
export async function reportRefusal(session: HttpSession, error: unknown): Promise<void> {
  if (!isTetherError(error)) return
  await session.command('ReportActivationResult', {status: 403, reason: error.code, message: error.message, hint: error.hint}).catch(() => undefined)
}

/**
 * Pull, store, then acknowledge: the agent drops only what the manager has committed, and the
 * manager ignores a re-delivered event, so a crash on either side between the steps loses nothing
 * and duplicates nothing.
 */
export async function pullEvents(ctx: ManagerContext, session: HttpSession, computer: Computer): Promise<number> {
  let stored = 0
  for (;;) {
    const reply = await session.command('GetAgentEvents', {limit: EVENT_BATCH})
    if (reply.events.length === 0) return stored
    failpoint('manager-events:pulled')
    stored += await ctx.store.events.store(computer.id, reply, ctx.now())
    failpoint('manager-events:stored')
    await session.command('AckAgentEvents', {instance: reply.instance, through: reply.events.at(-1)!.id})
    if (!reply.more) return stored
  }
}

type Delivery = 'done' | 'failed' | 'session-lost' | 'deactivated'

/** Send one queued operation. */
async function deliver(ctx: ManagerContext, session: HttpSession, computer: Computer, operation: Operation): Promise<Delivery> {
  const {store} = ctx
  try {
    // A configuration is encrypted at send time, to the certificate the agent holds now.
    const body = operation.command === 'SetSecurityConfiguration' ? (await configurationCommandBody(ctx, computer)).body : operation.body
    // The body was queued by this manager for this command (a configuration built just above).
    const result = await session.command(operation.command, body as never)
    failpoint('manager-contact:answered')
    if (operation.command === 'SetSecurityConfiguration') await store.computers.recordAppliedConfiguration(computer.id, result as Reply<'SetSecurityConfiguration'>)
    await store.operations.finish(operation.id, {ok: true, result, maxAttempts: MAX_ATTEMPTS}, ctx.now())
    // The agent is back to bootstrap after Deactivate: nothing more is sent.
    return operation.command === 'Deactivate' ? 'deactivated' : 'done'
  } catch (error) {
    await store.operations.finish(operation.id, {ok: false, result: {error: (error as Error).message, code: isTetherError(error) ? error.code : undefined}, maxAttempts: MAX_ATTEMPTS}, ctx.now())
    return isTetherError(error) && error.failure === 'unreachable' ? 'session-lost' : 'failed'
  }
}

export interface ContactNowResult {
  contacted: boolean
  reason?: string
  report?: ContactReport
}

/**
 * Deliver queued work now where the manager may open the connection (manager-initiated or
 * bidirectional with a known address); otherwise it waits for the agent's next heartbeat.
 */
export async function contactNow(ctx: ManagerContext, computer: Computer): Promise<ContactNowResult> {
  if (computer.mode === 'agent-initiated' || !computer.address) {
    return {contacted: false, reason: computer.mode === 'agent-initiated' ? 'agent-initiated mode: delivered at its next heartbeat' : 'no address for the agent: delivered at its next heartbeat'}
  }

  try {
    const open = await openAgentConnection(ctx, computer)
    const report = await runContact(ctx, open.session, open.computer, {expired: open.expired, peer: open.peer})
    if (report.renewed) await confirmOverNewConnection(ctx, open.computer, report.renewed)
    return {contacted: true, report}
  } catch (error) {
    return {contacted: false, reason: `${(error as Error).message}; delivered at its next contact`}
  }
}
