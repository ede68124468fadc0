import {renewalPoint} from '../pki/certificate.js'
import {parseDuration} from '../platform/duration.js'
import {isoString} from '../platform/iso-time.js'
import type {Computer} from './store/store.js'

/**
 * Where an agent certificate stands in its life, from the registry alone: when it renews, when it
 * expires, and whether that is a problem. Pure time arithmetic, so list and show can judge a
 * hundred thousand computers without touching a certificate.
 */

export interface RenewalSettings {
  renewAfter: number
  expiredRenewalGrace: string
  heartbeatIntervalSeconds: number
}

/**
 * - `ok`: before its renewal point.
 * - `renewal-due`: past it; renewed at the next contact.
 * - `renewing`: renewed, waiting for the agent to come back with the new certificate.
 * - `overdue`: past its renewal point by more than two heartbeats: the computer is not contacting.
 * - `expiring`: less than a tenth of its lifetime left and not renewed yet.
 * - `expired`: expired; renews within the grace (expiredRenewalGrace) at its next contact.
 * - `beyond-grace`: expired longer than the grace allows: it needs reactivation.
 */
export type CertificateStanding = 'ok' | 'renewal-due' | 'renewing' | 'overdue' | 'expiring' | 'expired' | 'beyond-grace'

export interface CertificateLife {
  notAfter: string
  renewsAt: string
  /** Whole days until it expires (negative once expired). */
  daysLeft: number
  standing: CertificateStanding
  /** The standing is something an operator should look at. */
  attention: boolean
}

const DAY_MS = 86_400_000

/** Whether an expired certificate may still renew (the grace for agents that were offline). */
export function withinGrace(notAfter: string | Date, settings: Pick<RenewalSettings, 'expiredRenewalGrace'>, now: Date): boolean {
  return now.getTime() <= new Date(notAfter).getTime() + parseDuration(settings.expiredRenewalGrace, 'expiredRenewalGrace')
}

/** Renew at this contact: past the renewal point, or asked by an operator. */
export function renewalDue(computer: Computer, settings: Pick<RenewalSettings, 'renewAfter'>, now: Date): boolean {
  if (computer.state !== 'activated' || !computer.certNotBefore || !computer.certNotAfter) return false
  return computer.renewRequested || now >= renewalPoint(computer.certNotBefore, computer.certNotAfter, settings.renewAfter)
}

const JUDGED_STATES: ReadonlySet<string> = new Set(['activated', 'deactivation-pending'])
const NEEDS_ATTENTION: ReadonlySet<CertificateStanding> = new Set(['overdue', 'expiring', 'expired', 'beyond-grace'])

export function certificateLife(computer: Computer, settings: RenewalSettings, now: Date): CertificateLife | undefined {
  if (!computer.certNotBefore || !computer.certNotAfter || !JUDGED_STATES.has(computer.state)) return undefined
  const notBefore = Date.parse(computer.certNotBefore)
  const notAfter = Date.parse(computer.certNotAfter)
  // From the parsed times (the same Date as from the strings): a listing judges every computer.
  const renewal = renewalPoint(notBefore, notAfter, settings.renewAfter)
  const renewsAt = renewal.getTime()
  const t = now.getTime()
  const standing: CertificateStanding =
    t >= notAfter ? (withinGrace(computer.certNotAfter, settings, now) ? 'expired' : 'beyond-grace')
    : computer.renewalSha256 ? 'renewing'
    : notAfter - t < (notAfter - notBefore) / 10 ? 'expiring'
    : t > renewsAt + 2 * settings.heartbeatIntervalSeconds * 1000 ? 'overdue'
    : t >= renewsAt || computer.renewRequested ? 'renewal-due'
    : 'ok'
  return {
    notAfter: computer.certNotAfter,
    renewsAt: isoString(renewsAt),
    daysLeft: Math.floor((notAfter - t) / DAY_MS),
    standing,
    attention: NEEDS_ATTENTION.has(standing),
  }
}
