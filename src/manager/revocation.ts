import type crypto from 'node:crypto'

import {fingerprint} from '../pki/certificate.js'
import {RevokedEntry, buildCrl, readVerifiedCrl} from '../pki/crl.js'
import type {ManagerContext} from './context.js'
import type {PublishedCrl, RevokedCertificate} from './store/store.js'

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
export function crlAged(crl: Pick<PublishedCrl, 'nextUpdate' | 'thisUpdate'>, now: Date): boolean {
  return Date.parse(crl.nextUpdate) - now.getTime() <= CRL_VALIDITY_MS / 2 || Date.parse(crl.thisUpdate) > now.getTime()
}

function isCurrent(crl: Omit<PublishedCrl, 'pem'>, revocationVersion: number, now: Date): boolean {
  return crl.revocationVersion === revocationVersion && !crlAged(crl, now)
}

/**
 * The latest published CRL of each store, PEM included, as last read: each contact checks only the
 * head (its number and dates), and the PEM (growing with every revocation) is read again only when
 * another CRL was published. A CRL is never changed once published under its number.
 */
const lastRead = new WeakMap<ManagerContext['store'], PublishedCrl>()

async function publishedCrl(store: ManagerContext['store'], head: Omit<PublishedCrl, 'pem'>): Promise<PublishedCrl | undefined> {
  const kept = lastRead.get(store)
  if (kept && kept.number === head.number && kept.publishedAt === head.publishedAt) return kept
  const latest = await store.crls.latest()
  if (latest) lastRead.set(store, latest)
  return latest
}

/** The current CRL, issued now if the published one is out of date. */
export async function currentCrl(ctx: ManagerContext): Promise<PublishedCrl> {
  const {store, credentials} = ctx
  for (;;) {
    const now = ctx.now()
    const [head, revocationVersion] = await Promise.all([store.crls.latestHead(), store.certificates.revocationVersion()])
    const latest = head && isCurrent(head, revocationVersion, now) ? await publishedCrl(store, head) : undefined
    if (latest && isCurrent(latest, revocationVersion, now) && signedByIssuingCa(latest, credentials.caCert)) return latest
    const revoked = await store.certificates.revoked()
    const thisUpdate = new Date(now.getTime() - BACKDATE_MS)
    const nextUpdate = new Date(now.getTime() + CRL_VALIDITY_MS)
    const number = (head?.number ?? 0) + 1
    const pem = buildCrl(credentials.caCert, credentials.caKey, crlEntries(revoked), {number, thisUpdate, nextUpdate})
    const crl: PublishedCrl = {number, pem, thisUpdate: thisUpdate.toISOString(), nextUpdate: nextUpdate.toISOString(), revocationVersion, publishedAt: now.toISOString()}
    // Another node may have issued this number first: then read what it published.
    if (await store.crls.publish(crl)) {
      lastRead.set(store, crl)
      ctx.log.info('crl-issued', {number, revoked: revoked.length, nextUpdate: crl.nextUpdate})
      return crl
    }
  }
}

function crlEntries(revoked: RevokedCertificate[]): RevokedEntry[] {
  return revoked.map((r) => ({serial: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason}))
}

const signedBy = new Map<string, boolean>()

/** A CA rotation changed the issuing CA: the CRL it published before is re-issued by the new one. */
function signedByIssuingCa(crl: PublishedCrl, ca: crypto.X509Certificate): boolean {
  const key = `${fingerprint(ca)}:${crl.number}:${crl.publishedAt}`
  let verdict = signedBy.get(key)
  if (verdict === undefined) {
    try {
      readVerifiedCrl(crl.pem, ca)
      verdict = true
    } catch {
      verdict = false
    }

    if (signedBy.size > 64) signedBy.clear()
    signedBy.set(key, verdict)
  }

  return verdict
}

const otherCrls = new Map<string, string>()

/**
 * The CRLs a TLS context checks peers with: the current one, and during a CA rotation the same
 * list signed by the other trusted CA (OpenSSL wants one from the issuer of each certificate in a
 * chain). Signed once per CRL number.
 */
export async function tlsCrls(ctx: ManagerContext, crl?: PublishedCrl): Promise<string[]> {
  const current = crl ?? (await currentCrl(ctx))
  const others = ctx.credentials.crlSigners.slice(1)
  if (others.length === 0) return [current.pem]
  const pems = [current.pem]
  for (const signer of others) {
    const key = `${fingerprint(signer.cert)}:${current.number}:${current.publishedAt}`
    let pem = otherCrls.get(key)
    if (pem === undefined) {
      const revoked = await ctx.store.certificates.revoked()
      pem = buildCrl(signer.cert, signer.key, crlEntries(revoked), {number: current.number, thisUpdate: new Date(current.thisUpdate), nextUpdate: new Date(current.nextUpdate)})
      if (otherCrls.size > 16) otherCrls.clear()
      otherCrls.set(key, pem)
    }

    pems.push(pem)
  }

  return pems
}
