import type {CommandSession} from '../channel/http-session.js'
import {isTetherError} from '../errors.js'
import type {HeartbeatRequest, Reply} from '../protocol/messages.js'
import {reload} from './computers.js'
import type {ManagerContext} from './context.js'
import {configurationCommandBody, queueConfiguration} from './policies.js'
import type {Computer, ManagerStore, Policy} from './store/store.js'

/**
 * The classic `dsa_control -a` / `-m` words, applied as the classic manager applies them: policy
 * by name (case-insensitive) or policyid by numeric id, group as a `/` hierarchy, display name
 * and description; groupid, relaygroup, relaygroupid, relayid and externalid stored and shown
 * (tether has no group ids or relays). A policy that is not found is a warning, never a failure.
 */

export const STORED_ONLY_WORDS = ['groupid', 'relaygroup', 'relaygroupid', 'relayid', 'externalid'] as const

/** `Servers//Web/` -> `Servers/Web`: the path of a group in the hierarchy. */
export function groupPath(group: string | undefined): string | undefined {
  if (group === undefined) return undefined
  const path = group.split('/').map((part) => part.trim()).filter(Boolean).join('/')
  return path || undefined
}

/** The policy the words name, or a warning saying it was not found. */
export async function requestedPolicy(store: ManagerStore, words: {policy?: string; policyid?: string}): Promise<{policy?: Policy; warning?: string}> {
  if (words.policyid !== undefined && words.policyid.trim() !== '') {
    const id = words.policyid.trim()
    const policy = /^\d+$/.test(id) ? (await store.policies.list()).find((p) => p.id === Number(id)) : undefined
    return policy ? {policy} : {warning: `policy id ${id} not found; ${words.policy ? 'trying policy name' : 'no policy assigned'}`}
  }

  if (words.policy !== undefined && words.policy.trim() !== '') {
    const name = words.policy.trim().toLowerCase()
    const policy = (await store.policies.list()).find((p) => p.name.toLowerCase() === name)
    return policy ? {policy} : {warning: `policy "${words.policy}" not found; no policy assigned`}
  }

  return {}
}

export function storedOnlyWords(words: {[K in (typeof STORED_ONLY_WORDS)[number]]?: string}): Record<string, string> {
  return Object.fromEntries(STORED_ONLY_WORDS.flatMap((k) => (words[k] === undefined ? [] : [[k, words[k]!]])))
}

/** The stored-only words a computer was given, at activation and by later `-m` calls (the later win). */
export function storedClassicWords(hostInfo: unknown): Record<string, string> {
  const info = (hostInfo ?? {}) as {activationRequest?: Record<string, string>; classicWords?: Record<string, string>}
  return {...storedOnlyWords(info.activationRequest ?? {}), ...info.classicWords}
}

/**
 * `dsa_control -m words`, told in GetAgentStatus: change the computer; a new policy (or
 * UpdateConfiguration:true) is queued so this same contact delivers it. Returns the computer as
 * it now is, and warnings for the agent.
 */
export async function applyHeartbeatRequest(ctx: ManagerContext, computer: Computer, request: HeartbeatRequest): Promise<{computer: Computer; warnings: string[]}> {
  const {store} = ctx
  const warnings: string[] = []
  await store.computers.describe(computer.id, {
    displayName: request.displayname,
    description: request.description,
    group: groupPath(request.group),
    classicWords: storedOnlyWords(request),
  })
  const {policy, warning} = await requestedPolicy(store, {policy: request.policy, policyid: request.policyid})
  if (warning) warnings.push(warning)
  if (policy && policy.name !== computer.policy) await store.computers.assignPolicy(computer.id, policy.name, ctx.now())
  else if (request.updateConfiguration) {
    if (policy || computer.policy) await queueConfiguration(ctx, computer.id)
    else warnings.push('UpdateConfiguration: this computer has no policy to send')
  }

  ctx.log.info('heartbeat-request-applied', {computer: computer.id, policy: policy?.name, updateConfiguration: request.updateConfiguration})
  return {computer: await reload(store, computer.id), warnings}
}

/**
 * The assigned policy, sent over the session that confirms an activation (before the verdict), as
 * the classic transcript shows: the agent ends its activation with its configuration in force.
 * A failure here leaves it queued for the next contact; the activation stands.
 */
export async function deliverPolicyNow(ctx: ManagerContext, session: CommandSession, computer: Computer): Promise<string | undefined> {
  const {store} = ctx
  try {
    const {body} = await configurationCommandBody(ctx, computer)
    const applied = (await session.command('SetSecurityConfiguration', body)) as Reply<'SetSecurityConfiguration'>
    await store.computers.recordAppliedConfiguration(computer.id, applied)
    for (const op of await store.operations.queued(computer.id)) {
      if (op.command === 'SetSecurityConfiguration') await store.operations.finish(op.id, {ok: true, result: applied, maxAttempts: 5}, ctx.now())
    }

    return undefined
  } catch (error) {
    await queueConfiguration(ctx, computer.id)
    return `the policy could not be applied during activation (${isTetherError(error) ? error.code : (error as Error).message}); it is queued for the next heartbeat`
  }
}
