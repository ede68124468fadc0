import {TetherError} from '../errors.js'
import type {Database} from '../platform/sqlite.js'

/** The registry's computers and the certificates the CA issued to them. */

export type CommunicationMode = 'bidirectional' | 'manager-initiated' | 'agent-initiated'
export type ComputerState = 'activated' | 'deactivation-pending' | 'reactivation-required' | 'deactivated'

export interface Computer {
  id: number
  guid: string
  hostname: string
  displayName: string | null
  description: string | null
  group: string | null
  policy: string | null
  address: string | null
  mode: CommunicationMode
  state: ComputerState
  hostInfo: Record<string, unknown> | null
  certSerial: string | null
  certSha256: string | null
  createdAt: string
  activatedAt: string | null
  lastSeenAt: string | null
  /** Per-computer overrides; null: the manager default applies. */
  heartbeatIntervalSeconds: number | null
  missedHeartbeats: number | null
  /** The configuration the agent last reported as applied. */
  configPolicy: string | null
  configVersion: number | null
  configSha256: string | null
}

export type Presence = 'online' | 'offline' | 'unknown'

/**
 * Online while the last contact is within `interval * missed`; derived at read time, so a
 * computer comes back online with its next heartbeat without any background job.
 */
export function presence(computer: Computer, defaults: {heartbeatIntervalSeconds: number; missedHeartbeats: number}, now: Date = new Date()): {presence: Presence; heartbeatIntervalSeconds: number; missedHeartbeats: number; offlineAfter?: string} {
  const interval = computer.heartbeatIntervalSeconds ?? defaults.heartbeatIntervalSeconds
  const missed = computer.missedHeartbeats ?? defaults.missedHeartbeats
  if (!computer.lastSeenAt || computer.state !== 'activated') return {presence: 'unknown', heartbeatIntervalSeconds: interval, missedHeartbeats: missed}
  const deadline = Date.parse(computer.lastSeenAt) + interval * missed * 1000
  return {presence: now.getTime() > deadline ? 'offline' : 'online', heartbeatIntervalSeconds: interval, missedHeartbeats: missed, offlineAfter: new Date(deadline).toISOString()}
}

export type ComputerView = Computer & ReturnType<typeof presence>

/** A computer with its derived presence and effective heartbeat settings, for display. */
export function viewComputer(computer: Computer, defaults: {heartbeatIntervalSeconds: number; missedHeartbeats: number}, now: Date = new Date()): ComputerView {
  return {...computer, ...presence(computer, defaults, now)}
}

export function setCommunication(db: Database, id: number, change: {mode?: CommunicationMode; heartbeatIntervalSeconds?: number | null; missedHeartbeats?: number | null}): void {
  const current = findComputer(db, String(id))
  db.prepare('UPDATE computers SET mode = ?, heartbeat_interval_s = ?, missed_heartbeats = ? WHERE id = ?').run(
    change.mode ?? current.mode,
    change.heartbeatIntervalSeconds === undefined ? current.heartbeatIntervalSeconds : change.heartbeatIntervalSeconds,
    change.missedHeartbeats === undefined ? current.missedHeartbeats : change.missedHeartbeats,
    id,
  )
}

export function findComputersByHostname(db: Database, hostname: string): Computer[] {
  return (db.prepare(`${SELECT} WHERE hostname = ? ORDER BY id`).all(hostname) as Array<Record<string, unknown>>).map((r) => fromRow(r)!)
}

const SELECT = `SELECT id, guid, hostname, display_name AS displayName, description, group_name AS "group", policy, address, mode, state,
  host_info AS hostInfo, cert_serial AS certSerial, cert_sha256 AS certSha256, created_at AS createdAt, activated_at AS activatedAt,
  last_seen_at AS lastSeenAt, heartbeat_interval_s AS heartbeatIntervalSeconds, missed_heartbeats AS missedHeartbeats,
  config_policy AS configPolicy, config_version AS configVersion, config_sha256 AS configSha256 FROM computers`

function fromRow(row: Record<string, unknown> | undefined): Computer | undefined {
  if (!row) return undefined
  return {...row, hostInfo: row.hostInfo ? JSON.parse(row.hostInfo as string) : null} as Computer
}

export function listComputers(db: Database): Computer[] {
  return (db.prepare(`${SELECT} ORDER BY id`).all() as Array<Record<string, unknown>>).map((r) => fromRow(r)!)
}

/** Find a computer by id, GUID, hostname or display name; ambiguity is an error, not a guess. */
export function findComputer(db: Database, ref: string): Computer {
  const byId = /^\d+$/.test(ref) ? fromRow(db.prepare(`${SELECT} WHERE id = ?`).get(Number(ref)) as Record<string, unknown>) : undefined
  if (byId) return byId
  const matches = (db.prepare(`${SELECT} WHERE guid = ? COLLATE NOCASE OR hostname = ? OR display_name = ? OR address = ?`).all(ref, ref, ref, ref) as Array<Record<string, unknown>>).map((r) => fromRow(r)!)
  if (matches.length === 1) return matches[0]
  if (matches.length === 0) {
    throw new TetherError('notFound', 'computer-not-found', `no computer "${ref}" in the registry`, {hint: 'list them with `tether manager computers list`'})
  }

  throw new TetherError('usage', 'computer-ambiguous', `"${ref}" matches ${matches.length} computers (ids ${matches.map((c) => c.id).join(', ')})`, {hint: 'use the numeric id or the GUID'})
}

export function findComputerByCertificate(db: Database, sha256: string): Computer | undefined {
  return fromRow(db.prepare(`${SELECT} WHERE id = (SELECT computer_id FROM certificates WHERE sha256 = ?)`).get(sha256) as Record<string, unknown> | undefined)
}

export interface IssuedCertificate {
  serial: string
  sha256: string
  subject: string
  notBefore: string
  notAfter: string
}

export function recordIssuedCertificate(db: Database, cert: IssuedCertificate & {pem: string}, now: Date = new Date()): void {
  db.prepare(`INSERT INTO certificates (serial, sha256, subject, not_before, not_after, issued_at, pem) VALUES (?, ?, ?, ?, ?, ?, ?)`)
    .run(cert.serial, cert.sha256, cert.subject, cert.notBefore, cert.notAfter, now.toISOString(), cert.pem)
}

/** The PEM of a certificate this CA issued (configurations are encrypted to it). */
export function issuedCertificatePem(db: Database, sha256: string): string | undefined {
  return (db.prepare('SELECT pem FROM certificates WHERE sha256 = ?').get(sha256) as {pem: string | null} | undefined)?.pem ?? undefined
}

export function isIssuedCertificate(db: Database, sha256: string): boolean {
  return db.prepare('SELECT 1 FROM certificates WHERE sha256 = ?').get(sha256) !== undefined
}

export interface ActivationRecord {
  guid: string
  hostname: string
  displayName?: string
  description?: string
  group?: string
  policy?: string
  address?: string
  mode: CommunicationMode
  hostInfo: Record<string, unknown>
  certSerial: string
  certSha256: string
}

/**
 * Record a confirmed activation: the computer (new, or the one with this GUID) and the link from
 * its certificate to it, in one transaction.
 */
export function recordActivation(db: Database, record: ActivationRecord, now: Date = new Date()): Computer {
  const at = now.toISOString()
  db.transaction(() => {
    db.prepare(`INSERT INTO computers (guid, hostname, display_name, description, group_name, policy, address, mode, state, host_info, cert_serial, cert_sha256, created_at, activated_at, last_seen_at)
      VALUES (@guid, @hostname, @displayName, @description, @group, @policy, @address, @mode, 'activated', @hostInfo, @certSerial, @certSha256, @at, @at, @at)
      ON CONFLICT(guid) DO UPDATE SET hostname = excluded.hostname, display_name = coalesce(excluded.display_name, display_name),
        description = coalesce(excluded.description, description), group_name = coalesce(excluded.group_name, group_name),
        policy = coalesce(excluded.policy, policy), address = coalesce(excluded.address, address), mode = excluded.mode, state = 'activated',
        host_info = excluded.host_info, cert_serial = excluded.cert_serial, cert_sha256 = excluded.cert_sha256,
        activated_at = excluded.activated_at, last_seen_at = excluded.last_seen_at`)
      .run({
        ...record,
        displayName: record.displayName ?? null,
        description: record.description ?? null,
        group: record.group ?? null,
        policy: record.policy ?? null,
        address: record.address ?? null,
        hostInfo: JSON.stringify(record.hostInfo),
        at,
      })
    db.prepare('UPDATE certificates SET computer_id = (SELECT id FROM computers WHERE guid = ?) WHERE sha256 = ?').run(record.guid, record.certSha256)
  })()
  return findComputer(db, record.guid)
}

/** Record what the agent reports as its applied configuration. */
export function recordAppliedConfiguration(db: Database, id: number, applied: {policy?: string; version?: number; sha256?: string} | undefined): void {
  db.prepare('UPDATE computers SET config_policy = ?, config_version = ?, config_sha256 = ? WHERE id = ?').run(applied?.policy ?? null, applied?.version ?? null, applied?.sha256 ?? null, id)
}

export function touchComputer(db: Database, id: number, now: Date = new Date()): void {
  db.prepare('UPDATE computers SET last_seen_at = ? WHERE id = ?').run(now.toISOString(), id)
}
