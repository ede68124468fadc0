import type {HttpSession} from '../channel/http-session.js'
import type {AgentStatusReply} from '../protocol/messages.js'
import type {ManagerContext, StoreContext} from './context.js'
import {Settings, getSettings} from './settings.js'

/**
 * Where agents send heartbeats. A load balancer, when one is set, is the one name agents are told;
 * else on PostgreSQL every active node's heartbeat address, so an agent
 * whose node is down fails over to the next; else the one embedded manager's address. The list is
 * authoritative (pushed to agents whose copy differs) only when it is the load balancer or the
 * nodes: an embedded manager's advertised address is never pushed over the one an agent dialled.
 * Only the list is pushed: the address an agent was activated with stays its first choice.
 */

export interface AdvertisedAddresses {
  /** In one order for every node (the nodes' join order), so agents are not told a new list by each node they reach. */
  addresses: string[]
  /** This node's own, the first choice of an agent it activates. */
  own?: string
  authoritative: boolean
}

/** `settings`: the caller's, when it has read them already. */
export async function advertisedAddresses(ctx: StoreContext & {node?: string}, settings?: Settings): Promise<AdvertisedAddresses> {
  const {store} = ctx
  settings ??= await getSettings(store)
  if (settings.loadBalancerHeartbeatHostname) {
    const host = settings.loadBalancerHeartbeatHostname.includes(':') ? `[${settings.loadBalancerHeartbeatHostname}]` : settings.loadBalancerHeartbeatHostname
    // Port 0: the balancer forwards the port the manager listens on.
    const listening = await store.meta.get('listening_address')
    const port = settings.loadBalancerHeartbeatPort || Number(/:(\d+)$/.exec(listening ?? '')?.[1] ?? 4120)
    return {addresses: [`${host}:${port}`], authoritative: true}
  }

  if (settings.heartbeatAddress) return {addresses: [settings.heartbeatAddress], authoritative: store.engine === 'postgres'}
  if (store.engine === 'postgres') {
    const nodes = (await store.nodes.list()).filter((node) => !node.removedAt && node.heartbeatAddress)
    const own = nodes.find((node) => node.name === ctx.node)?.heartbeatAddress ?? undefined
    return {addresses: [...new Set(nodes.map((node) => node.heartbeatAddress!))], own, authoritative: true}
  }

  const listening = await store.meta.get('listening_address')
  return {addresses: listening ? [listening] : [], authoritative: false}
}

/** What an activation tells the agent: the first address, and with an authoritative list the whole list. */
export async function heartbeatCommunication(ctx: StoreContext & {node?: string}): Promise<{managerAddress: string | null; managerAddresses?: string[]}> {
  const {addresses, own, authoritative} = await advertisedAddresses(ctx)
  return {managerAddress: own ?? addresses[0] ?? null, ...(authoritative && addresses.length > 0 ? {managerAddresses: addresses} : {})}
}

/**
 * In a contact: an agent whose list of heartbeat addresses differs from the authoritative one is
 * given it (a node joined or was removed, a load balancer was set). An agent of an earlier version
 * reports none and is left alone; the address it dialled stays its first choice.
 */
export async function syncHeartbeatAddresses(ctx: ManagerContext, session: HttpSession, status: AgentStatusReply, settings?: Settings): Promise<void> {
  if (status.managerAddresses === undefined) return
  const {addresses, authoritative} = await advertisedAddresses(ctx, settings)
  if (!authoritative || addresses.length === 0) return
  if (addresses.length === status.managerAddresses.length && addresses.every((address, i) => address === status.managerAddresses![i])) return
  await session.command('SetCommunication', {managerAddresses: addresses})
  ctx.log.info('heartbeat-addresses-sent', {addresses: addresses.join(',')})
}
