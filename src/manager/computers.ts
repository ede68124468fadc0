import {TetherError} from '../errors.js'
import {isoString} from '../platform/iso-time.js'
import {certificateLife, CertificateLife, RenewalSettings} from './certificate-life.js'
import type {Computer, ManagerStore} from './store/store.js'

export type {CommunicationMode, Computer, ComputerState} from './store/store.js'

/** Computers in the registry: finding one by what an operator types, and their derived presence. */

export type Presence = 'online' | 'offline' | 'unknown'

interface HeartbeatDefaults {
  heartbeatIntervalSeconds: number
  missedHeartbeats: number
}

/**
 * Online while the last contact is within `interval * missed`; derived at read time, so a
 * computer comes back online with its next heartbeat without any background job.
 */
export function presence(computer: Computer, defaults: HeartbeatDefaults, now: Date = new Date()): {presence: Presence; heartbeatIntervalSeconds: number; missedHeartbeats: number; offlineAfter?: string} {
  const interval = computer.heartbeatIntervalSeconds ?? defaults.heartbeatIntervalSeconds
  const missed = computer.missedHeartbeats ?? defaults.missedHeartbeats
  if (!computer.lastSeenAt || computer.state !== 'activated') return {presence: 'unknown', heartbeatIntervalSeconds: interval, missedHeartbeats: missed}
  const deadline = Date.parse(computer.lastSeenAt) + interval * missed * 1000
  return {presence: now.getTime() > deadline ? 'offline' : 'online', heartbeatIntervalSeconds: interval, missedHeartbeats: missed, offlineAfter: isoString(deadline)}
}

export type ComputerView = Computer & ReturnType<typeof presence> & {certificate: CertificateLife | null}

/** A computer with its derived presence, effective heartbeat settings and certificate life, for display. */
export function viewComputer(computer: Computer, defaults: HeartbeatDefaults & RenewalSettings, now: Date = new Date()): ComputerView {
  return {...computer, ...presence(computer, defaults, now), certificate: certificateLifeOf(computer, defaults, now)}
}

/** The certificate life a view shows (null: no certificate to judge), under the computer's effective heartbeat interval. */
export function certificateLifeOf(computer: Computer, defaults: HeartbeatDefaults & RenewalSettings, now: Date): CertificateLife | null {
  // Only what certificateLife reads: spreading the whole settings object costs more than the rest of the view.
  const settings = {renewAfter: defaults.renewAfter, expiredRenewalGrace: defaults.expiredRenewalGrace, heartbeatIntervalSeconds: computer.heartbeatIntervalSeconds ?? defaults.heartbeatIntervalSeconds}
  return certificateLife(computer, settings, now) ?? null
}

/** Find a computer by id, GUID, hostname, display name or address; ambiguity is an error, not a guess. */
export async function findComputer(store: ManagerStore, ref: string): Promise<Computer> {
  const byId = /^\d+$/.test(ref) ? await store.computers.get(Number(ref)) : undefined
  if (byId) return byId
  const matches = await store.computers.matching(ref)
  if (matches.length === 1) return matches[0]
  if (matches.length === 0) {
    throw new TetherError('notFound', 'computer-not-found', `no computer "${ref}" in the registry`, {hint: 'list them with `tether manager computers list`'})
  }

  throw new TetherError('usage', 'computer-ambiguous', `"${ref}" matches ${matches.length} computers (ids ${matches.map((c) => c.id).join(', ')})`, {hint: 'use the numeric id or the GUID'})
}

/** The computer with this id, which the caller knows exists (it was just read or written). */
export async function reload(store: ManagerStore, id: number): Promise<Computer> {
  const computer = await store.computers.get(id)
  if (!computer) throw new TetherError('notFound', 'computer-removed', `computer ${id} was removed meanwhile`, {hint: 'list them with `tether manager computers list`'})
  return computer
}
