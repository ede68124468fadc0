import {TetherError} from '../errors.js'
import type {StoreContext} from './context.js'
import type {ManagerHome} from './home.js'
import {readNodeIdentity} from './node-home.js'
import type {ManagerNode} from './store/store.js'

/** The nodes of an installation on PostgreSQL: listing them, and removing one (its certificates revoked). */

export interface NodeView extends ManagerNode {
  state: 'active' | 'removed'
  /** The node whose home ran this command. */
  self: boolean
}

/** This home's node name; an embedded home has none, and is told how to become one. */
export function thisNode(home: ManagerHome): string {
  if (!home.isNode()) {
    throw new TetherError('refused', 'not-a-node', `the manager home ${home.dir} has the embedded SQLite registry: it is the only manager of its installation`, {
      hint: 'several nodes share a PostgreSQL registry: move this one there first with `tether manager migrate --to postgres://...`, or create one with `tether manager init --database`',
    })
  }

  return readNodeIdentity(home.dir).name
}

export async function listNodes(ctx: StoreContext, home: ManagerHome): Promise<NodeView[]> {
  const self = thisNode(home)
  return (await ctx.store.nodes.list()).map((node) => ({...node, state: node.removedAt ? 'removed' : 'active', self: node.name === self}))
}

/** Remove a node: it is marked removed and its certificates revoked, so agents refuse it after their next CRL. */
export async function removeNode(ctx: StoreContext, home: ManagerHome, name: string): Promise<{node: NodeView; revoked: number}> {
  const self = thisNode(home)
  if (name === self) {
    throw new TetherError('refused', 'remove-own-node', `${name} is the node this home belongs to`, {hint: 'remove a node from another node of the installation (its own certificate would be revoked under it)'})
  }

  const active = (await ctx.store.nodes.list()).filter((node) => !node.removedAt)
  if (!active.some((node) => node.name === name)) {
    throw new TetherError('notFound', 'node-not-found', `no active node named ${name}`, {hint: `the active nodes: ${active.map((node) => node.name).join(', ')} (tether manager nodes list)`})
  }

  const removed = await ctx.store.nodes.remove(name, ctx.now())
  if (!removed) throw new TetherError('notFound', 'node-not-found', `no active node named ${name}`, {hint: 'another node removed it just now'})
  return {node: {...removed.node, state: 'removed', self: false}, revoked: removed.revoked}
}
