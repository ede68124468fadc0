import {buildCrl, RevocationReason} from '../pki/crl.js'
import type {Database} from '../platform/sqlite.js'
import type {ManagerCredentials} from './home.js'
import {getMeta, setMeta} from './registry.js'

/**
 * Revocation: a revoked certificate is listed in the CA's CRL, which both TLS directions of the
 * manager load (its heartbeat listener's server context and every outbound connection to agents),
 * so a saved copy of a revoked agent certificate can no longer complete a handshake with it.
 */

/** How long a published CRL is valid; the manager re-issues it on every change and on start. */
const CRL_VALIDITY_MS = 7 * 86_400_000

export function revokeCertificate(db: Database, sha256: string, reason: RevocationReason, now: Date = new Date()): boolean {
  const changed = db.transaction(() => {
    const result = db.prepare('UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE sha256 = ? AND revoked_at IS NULL').run(now.toISOString(), reason, sha256)
    if (result.changes > 0) setMeta(db, 'crl_number', String(revocationVersion(db) + 1))
    return result.changes > 0
  })()
  return changed
}

export function isRevoked(db: Database, sha256: string): boolean {
  return db.prepare('SELECT 1 FROM certificates WHERE sha256 = ? AND revoked_at IS NOT NULL').get(sha256) !== undefined
}

/** Bumped on every revocation: a running manager compares it to know when to reload its CRL. */
export function revocationVersion(db: Database): number {
  return Number(getMeta(db, 'crl_number') ?? '0')
}

export interface RevokedCertificate {
  serial: string
  sha256: string
  subject: string
  revokedAt: string
  reason: RevocationReason
}

export function listRevoked(db: Database): RevokedCertificate[] {
  return db.prepare('SELECT serial, sha256, subject, revoked_at AS revokedAt, revocation_reason AS reason FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at').all() as RevokedCertificate[]
}

const cache = new WeakMap<Database, {version: number; pem: string; nextUpdate: number}>()

/** The current CRL (PEM), re-issued when a revocation changed it or it nears its next update. */
export function currentCrl(db: Database, credentials: ManagerCredentials, now: Date = new Date()): string {
  const version = revocationVersion(db)
  const cached = cache.get(db)
  if (cached && cached.version === version && cached.nextUpdate - now.getTime() > CRL_VALIDITY_MS / 2) return cached.pem
  const nextUpdate = new Date(now.getTime() + CRL_VALIDITY_MS)
  const pem = buildCrl(credentials.caCert, credentials.caKey, listRevoked(db).map((r) => ({serial: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason})), {
    number: version,
    // Backdated like certificates, to tolerate peers whose clocks run a little behind.
    thisUpdate: new Date(now.getTime() - 3_600_000),
    nextUpdate,
  })
  cache.set(db, {version, pem, nextUpdate: nextUpdate.getTime()})
  return pem
}
