import {TetherError, isTetherError} from '../errors.js'
import type {AgentCommunication} from '../protocol/messages.js'
import type {AgentRuntime} from './server.js'

/**
 * Heartbeats to an installation of several manager nodes: the addresses are tried in turn on the
 * same heartbeat until one serves it. The one that answered last is tried first next time (a node
 * that is down costs one failed connection, once); then the address the agent was given or
 * dialled, then the rest of the manager's list. A manager's own verdict on this agent (it refused
 * it, with a reason) is the shared registry's and ends the heartbeat: every node would say the same.
 */

const lastReached = new WeakMap<AgentRuntime, string>()

export function heartbeatCandidates(runtime: AgentRuntime, communication: AgentCommunication): string[] {
  const listed = [communication.managerAddress, ...(communication.managerAddresses ?? [])].filter((address): address is string => Boolean(address))
  const preferred = lastReached.get(runtime)
  return [...new Set([...(preferred && listed.includes(preferred) ? [preferred] : []), ...listed])]
}

/** Whether another node may serve what this one did not: it was unreachable, not our manager, or closed on us. */
function worthAnother(error: unknown): boolean {
  if (!isTetherError(error)) return true
  return error.failure === 'unreachable' || error.failure === 'trust' || error.code === 'refused-by-manager'
}

export interface FailedAddress {
  address: string
  reason: string
}

export async function heartbeatWithFailover<T extends {address: string}>(runtime: AgentRuntime, communication: AgentCommunication, attempt: (address: string) => Promise<T>): Promise<T & {failedOver?: FailedAddress[]}> {
  const failed: FailedAddress[] = []
  let last: unknown
  for (const address of heartbeatCandidates(runtime, communication)) {
    try {
      const result = await attempt(address)
      lastReached.set(runtime, address)
      if (failed.length === 0) return result
      runtime.log.info('heartbeat-failed-over', {address, after: failed.map((f) => f.address).join(',')})
      return {...result, failedOver: failed}
    } catch (error) {
      last = error
      if (!worthAnother(error)) throw error
      failed.push({address, reason: isTetherError(error) ? error.code : (error as Error).message})
      runtime.log.warn('heartbeat-address-failed', {address, reason: failed.at(-1)!.reason})
    }
  }

  if (failed.length <= 1) throw last
  throw new TetherError('unreachable', 'no-manager-reachable', `no manager node served the heartbeat: ${failed.map((f) => `${f.address} (${f.reason})`).join(', ')}`, {
    hint: 'check that the manager nodes run (`tether manager nodes list` shows when each was last seen) and that this machine reaches their heartbeat ports',
    cause: last,
  })
}
