import crypto from 'node:crypto'
import os from 'node:os'

import type {AgentStatusReply} from '../protocol/messages.js'
import type {ManagerContext} from './context.js'
import {Settings, getSettings} from './settings.js'
import type {Computer, Operation} from './store/store.js'

/**
 * Work several manager nodes could each do for one computer, done by one of them: delivering its
 * queued operations (a claim per contact) and polling it (a lease per poll). A claim or lease names
 * this process and runs out after nodeLeaseSeconds, so a node that dies mid-contact holds nothing
 * for long: the next contact, through any node, delivers what it had claimed, once.
 */

let instance: string | undefined

/** This process, as the holder of claims and leases (a restarted node is another holder). */
export function holder(ctx: Pick<ManagerContext, 'node'>): string {
  instance ??= `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`
  return ctx.node ? `${ctx.node}/${instance}` : instance
}

async function until(ctx: ManagerContext, settings?: Settings): Promise<Date> {
  return new Date(ctx.now().getTime() + (settings ?? (await getSettings(ctx.store))).nodeLeaseSeconds * 1000)
}

export interface ClaimedOperations {
  operations: Operation[]
  /** Give back what this contact did not deliver (finished operations are free already). */
  release(): Promise<void>
}

let contacts = 0

/**
 * Claim the computer's queued operations for this contact: what another contact holds is left to it.
 * The claim is this contact's, not the process's: two contacts of one computer at once through one
 * process (an agent heartbeating twice, or through one listener worker) must not both deliver.
 * `settings`: the contact's, when it has read them already.
 */
export async function claimOperations(ctx: ManagerContext, computer: Computer, settings?: Settings): Promise<ClaimedOperations> {
  const who = `${holder(ctx)}#${++contacts}`
  const operations = await ctx.store.operations.claim(computer.id, {holder: who, until: await until(ctx, settings)}, ctx.now())
  // Nothing claimed (most heartbeats): nothing to give back.
  return {operations, release: async () => (operations.length > 0 ? ctx.store.operations.release(operations.map((op) => op.id), who) : undefined)}
}

/** Take the lease on polling this computer; false when another node is polling it now. */
export async function takePollLease(ctx: ManagerContext, computerId: number): Promise<boolean> {
  return ctx.store.leases.take(`poll:${computerId}`, holder(ctx), await until(ctx), ctx.now())
}

export async function releasePollLease(ctx: ManagerContext, computerId: number): Promise<void> {
  await ctx.store.leases.release(`poll:${computerId}`, holder(ctx))
}

/**
 * A configuration the agent already reports as applied is finished, not sent again: a node that
 * died after the agent applied it, before recording that, left it queued (and its claim ran out).
 */
export async function alreadyApplied(ctx: ManagerContext, computer: Computer, operation: Operation, status: AgentStatusReply): Promise<boolean> {
  if (operation.command !== 'SetSecurityConfiguration' || !status.configuration || !computer.policy) return false
  const policy = await ctx.store.policies.find(computer.policy)
  if (!policy || policy.sha256 !== status.configuration.sha256) return false
  await ctx.store.operations.finish(operation.id, {ok: true, result: {...status.configuration, alreadyApplied: true}, maxAttempts: 1}, ctx.now())
  ctx.log.info('operation-already-applied', {computer: computer.id, operation: operation.id, sha256: policy.sha256})
  return true
}
