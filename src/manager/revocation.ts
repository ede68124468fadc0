import {buildCrl} from '../pki/crl.js'
import type {ManagerContext} from './context.js'
import type {ManagerStore} from './store/store.js'

/**
 * Revocation: a revoked certificate is listed in the CA's CRL, which both TLS directions of the
 * manager load (its heartbeat listener's server context and every outbound connection to agents),
 * so a saved copy of a revoked agent certificate can no longer complete a handshake with it.
 */

/** How long a published CRL is valid; the manager re-issues it on every change and on start. */
const CRL_VALIDITY_MS = 7 * 86_400_000

const cache = new WeakMap<ManagerStore, {number: number; pem: string; nextUpdate: number}>()

/** The current CRL (PEM), re-issued when a revocation changed it or it nears its next update. */
export async function currentCrl(ctx: ManagerContext): Promise<string> {
  const {store, credentials} = ctx
  const now = ctx.now()
  const number = await store.certificates.crlNumber()
  const cached = cache.get(store)
  if (cached && cached.number === number && cached.nextUpdate - now.getTime() > CRL_VALIDITY_MS / 2) return cached.pem
  const nextUpdate = new Date(now.getTime() + CRL_VALIDITY_MS)
  const revoked = await store.certificates.revoked()
  const pem = buildCrl(credentials.caCert, credentials.caKey, revoked.map((r) => ({serial: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason})), {
    number,
    // Backdated like certificates, to tolerate peers whose clocks run a little behind.
    thisUpdate: new Date(now.getTime() - 3_600_000),
    nextUpdate,
  })
  cache.set(store, {number, pem, nextUpdate: nextUpdate.getTime()})
  return pem
}
