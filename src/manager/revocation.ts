import {buildCrl} from '../pki/crl.js'
import type {ManagerContext} from './context.js'
import type {PublishedCrl} from './store/store.js'

/**
 * The installation's CRL. It is issued into the store and read from there, so every node serves
 * the same one, numbered from one sequence. It is issued again when a revocation made it out of date
 * or when half its validity has passed, checked whenever it is asked for (at each contact and on
 * the running manager's timer), so a clock that jumped forward is seen at the first contact.
 */

/** How long an issued CRL is valid. */
export const CRL_VALIDITY_MS = 7 * 86_400_000

/** Issued this far in the past, so a peer whose clock runs a little behind accepts it. */
export const BACKDATE_MS = 60 * 60_000

/** Half its validity gone, or issued "in the future" (the clock went back): time to issue again. */
export function crlAged(crl: PublishedCrl, now: Date): boolean {
  return Date.parse(crl.nextUpdate) - now.getTime() <= CRL_VALIDITY_MS / 2 || Date.parse(crl.thisUpdate) > now.getTime()
}

function isCurrent(crl: PublishedCrl, revocationVersion: number, now: Date): boolean {
  return crl.revocationVersion === revocationVersion && !crlAged(crl, now)
}

/** The current CRL, issued now if the published one is out of date. */
export async function currentCrl(ctx: ManagerContext): Promise<PublishedCrl> {
  const {store, credentials} = ctx
  for (;;) {
    const now = ctx.now()
    const [latest, revocationVersion] = await Promise.all([store.crls.latest(), store.certificates.revocationVersion()])
    if (latest && isCurrent(latest, revocationVersion, now)) return latest
    const revoked = await store.certificates.revoked()
    const thisUpdate = new Date(now.getTime() - BACKDATE_MS)
    const nextUpdate = new Date(now.getTime() + CRL_VALIDITY_MS)
    const number = (latest?.number ?? 0) + 1
    const pem = buildCrl(credentials.caCert, credentials.caKey, revoked.map((r) => ({serial: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason})), {number, thisUpdate, nextUpdate})
    const crl: PublishedCrl = {number, pem, thisUpdate: thisUpdate.toISOString(), nextUpdate: nextUpdate.toISOString(), revocationVersion, publishedAt: now.toISOString()}
    // Another node may have issued this number first: then read what it published.
    if (await store.crls.publish(crl)) {
      ctx.log.info('crl-issued', {number, revoked: revoked.length, nextUpdate: crl.nextUpdate})
      return crl
    }
  }
}
