import {TetherError} from '../errors.js'
import {findComputer, reload} from './computers.js'
import {ContactReport, contactNow} from './contact.js'
import type {ManagerContext} from './context.js'
import type {Computer} from './store/store.js'

/**
 * Deactivation: the agent is told to clear its credentials, configuration and binding (Deactivate),
 * and its certificate is revoked. A reachable agent is done at once; otherwise the computer is
 * "deactivation pending" (its certificate still good for exactly that last contact) and finished
 * at its next contact, or removed with force, revoked regardless.
 */

export interface DeactivationResult {
  computer: Computer
  outcome: 'deactivated' | 'deactivation-pending' | 'removed'
  revoked: boolean
  reason?: string
}

export async function deactivate(ctx: ManagerContext, ref: string, options: {force?: boolean} = {}): Promise<DeactivationResult> {
  const {store} = ctx
  const computer = await findComputer(store, ref)
  if (computer.state === 'deactivated') {
    throw new TetherError('refused', 'already-deactivated', `computer ${computer.id} is already deactivated`, {hint: 'remove it with --force, or reactivate the agent'})
  }

  await store.computers.beginDeactivation(computer.id, ctx.now())
  const pending = await reload(store, computer.id)
  const contact = computer.state === 'activated' ? await contactNow(ctx, pending) : {contacted: false, reason: `the computer is ${computer.state}`}
  if (contact.report) await settleContact(ctx, pending, contact.report)
  const after = await reload(store, computer.id)
  if (after.state === 'deactivated') return {computer: after, outcome: 'deactivated', revoked: true}

  if (options.force) {
    await store.computers.finishDeactivation(after.id, {remove: true, at: ctx.now()})
    return {computer: after, outcome: 'removed', revoked: Boolean(after.certSha256), reason: contact.reason}
  }

  return {computer: after, outcome: 'deactivation-pending', revoked: false, reason: contact.reason}
}

/** What follows from a contact: an agent that answered Deactivate is deactivated, its certificate revoked. */
export async function settleContact(ctx: ManagerContext, computer: Computer, report: ContactReport): Promise<void> {
  if (!report.deactivated) return
  await ctx.store.computers.finishDeactivation(computer.id, {remove: false, at: ctx.now()})
  ctx.log.info('deactivated', {computer: computer.id, hostname: computer.hostname, certificateSha256: computer.certSha256 ?? undefined})
}
