import {contactNow} from './contact.js'
import type {ManagerContext} from './context.js'
import type {Computer} from './store/store.js'

export interface RenewalRequest {
  computer: {id: number; hostname: string}
  /** Renewed now, over a connection the manager opened. */
  renewed: boolean
  /** Why not now (it renews at its next contact). */
  reason?: string
}

/**
 * `manager computers renew`: mark computers to renew at their next contact, whatever their
 * certificate's age; with `now`, contact those the manager can reach (not agent-initiated, with an
 * address) at once, one at a time.
 */
export async function requestRenewals(ctx: ManagerContext, computers: Computer[] | 'all', options: {now?: boolean} = {}): Promise<RenewalRequest[]> {
  const {store} = ctx
  await store.computers.requestRenewal(computers === 'all' ? 'all' : computers.map((c) => c.id))
  const marked = (await store.computers.list()).filter((c) => c.renewRequested && (computers === 'all' || computers.some((m) => m.id === c.id)))
  ctx.log.info('certificate-renewal-requested', {computers: marked.length})
  const results: RenewalRequest[] = []
  for (const computer of marked) {
    const view = {id: computer.id, hostname: computer.hostname}
    if (!options.now) {
      results.push({computer: view, renewed: false, reason: 'renews at its next contact'})
      continue
    }

    const outcome = await contactNow(ctx, computer)
    const renewed = outcome.contacted && outcome.report?.renewed !== undefined
    results.push({computer: view, renewed, ...(renewed ? {} : {reason: outcome.reason ?? 'contacted, but not renewed: see tether manager computers show'})})
  }

  return results
}
