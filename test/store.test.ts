import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import pg from 'pg'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {isTetherError} from '../src/errors.js'
import {Postgres} from '../src/platform/postgres.js'
import {JOURNAL_MAX_ENTRIES} from '../src/platform/sqlite-journal.js'
import {openManagerStore} from '../src/manager/store/open.js'
import {PostgresManagerStore} from '../src/manager/store/postgres.js'
import {POSTGRES_MIGRATIONS} from '../src/manager/store/postgres-schema.js'
import {SQLITE_MIGRATIONS} from '../src/manager/store/sqlite-schema.js'
import {SqliteManagerStore} from '../src/manager/store/sqlite.js'
import {REGISTRY_TABLES} from '../src/manager/store/store.js'
import type {ActivationRecord, EnrolmentToken, Invitation, IssuedCertificate, ManagerStore, NewNode, PolicyVersion, PublishedCrl, RegistryRow, RegistryTable} from '../src/manager/store/store.js'
import {tableChecksum} from '../src/manager/store/registry-copy.js'
import type {HandshakeEntry} from '../src/channel/journal.js'
import {ROOT, tempDir} from './helpers.js'
import {freePort, startPostgres, usePostgres} from './postgres.js'

// One conformance suite for both engines, through the store interface only; then what only the
// shared engine has to get right: several nodes (two pools) racing on one database.

const postgres = usePostgres()

/** 2026-12-01T10:00:00.000Z plus `seconds`. */
const at = (seconds = 0) => new Date(Date.UTC(2026, 11, 1, 10, 0, seconds))
const iso = (seconds = 0) => at(seconds).toISOString()

const certificate = (n: number): IssuedCertificate => ({
  serial: `0${n}`.padStart(8, '0'),
  sha256: `${n}`.padStart(64, 'a'),
  subject: `CN=agent-${n}`,
  notBefore: '2026-12-01T00:00:00.000Z',
  notAfter: '2027-12-01T00:00:00.000Z',
  pem: `-----BEGIN CERTIFICATE-----\nagent-${n}\n-----END CERTIFICATE-----\n`,
})

const activation = (n: number, extra: Partial<ActivationRecord> = {}): ActivationRecord => ({
  guid: `0000000${n}-AAAA-4BBB-8CCC-DDDDDDDDDDDD`,
  hostname: `host-${n}`,
  mode: 'bidirectional',
  hostInfo: {hostname: `host-${n}`, platform: 'linux', clock: iso()},
  certSerial: certificate(n).serial,
  certSha256: certificate(n).sha256,
  certNotBefore: certificate(n).notBefore,
  certNotAfter: certificate(n).notAfter,
  ...extra,
})

/** An activated computer with its certificate recorded: its id. */
async function activated(store: ManagerStore, n: number, extra: Partial<ActivationRecord> = {}, seconds = 0): Promise<number> {
  await store.certificates.record(certificate(n), at(seconds))
  return (await store.computers.recordActivation(activation(n, extra), at(seconds))).id
}

const policy = (name: string, document: Record<string, unknown>, options: {replace?: boolean; seconds?: number} = {}): PolicyVersion => ({
  name,
  document,
  replace: options.replace ?? false,
  at: at(options.seconds ?? 0),
  sha256: (version) => `sha-${name}-${version}`,
})

const handshake = (n: number): HandshakeEntry => ({tlsRole: 'server', httpRole: 'server', context: 'mutual', result: 'accepted', reason: `ok-${n}`})

const token = (n: number, extra: Partial<EnrolmentToken> = {}): EnrolmentToken => ({
  id: `tok${n}`,
  secretSha256: `${n}`.padStart(64, 'b'),
  createdAt: iso(),
  expiresAt: null,
  usesAllowed: null,
  uses: 0,
  policy: null,
  group: null,
  revokedAt: null,
  ...extra,
})

const crl = (number: number, extra: Partial<PublishedCrl> = {}): PublishedCrl => ({
  number,
  pem: `-----BEGIN X509 CRL-----\ncrl-${number}\n-----END X509 CRL-----\n`,
  thisUpdate: iso(number),
  nextUpdate: '2026-12-08T10:00:00.000Z',
  revocationVersion: number - 1,
  publishedAt: iso(number),
  ...extra,
})

const node_ = (name: string, n: number): NewNode => ({name, hostnames: [`${name}.example`, '10.0.0.1'], certificate: {...certificate(n), subject: `CN=${name}`}})

const invitation = (n: number, extra: Partial<Invitation> = {}): Invitation => ({
  id: `inv${n}`,
  secretSha256: `${n}`.padStart(64, 'c'),
  createdAt: iso(),
  expiresAt: iso(600),
  createdBy: 'node-1',
  usedAt: null,
  usedBy: null,
  ...extra,
})

/** A name reservation of computer `n` (its GUID) for `hostname`. */
const claim = (n: number, hostname: string, unique: boolean, staleAfterMs = 60_000) => ({guid: activation(n).guid, hostname, unique, staleAfterMs})

const engines = [
  {name: 'sqlite', migrations: SQLITE_MIGRATIONS.length, open: async () => SqliteManagerStore.open(path.join(tempDir('tether-store-'), 'manager.db'), {create: true})},
  {name: 'postgres', migrations: POSTGRES_MIGRATIONS.length, open: async () => openManagerStore(await postgres().createDatabase())},
] as const

describe.each(engines)('the $name store', (engine) => {
  let store: ManagerStore
  beforeEach(async () => {
    store = await engine.open()
  })
  afterEach(async () => {
    await store.close()
  })

  describe('computers', () => {
    it('never gives a deleted computer\'s id again (its events and certificates keep naming it), nor a released reservation\'s', async () => {
      const first = await activated(store, 1)
      const last = await activated(store, 2)
      await store.computers.finishDeactivation(last, {remove: true, at: at(5)})
      const next = await activated(store, 3)
      expect(next).toBeGreaterThan(last)
      expect(await store.computers.reserve(claim(4, 'held', false), at(6))).toBe(true)
      const reservedId = (await store.computers.byHostname('held'))[0].id
      expect(reservedId).toBeGreaterThan(next)
      await store.computers.release(activation(4).guid)
      expect(await activated(store, 5)).toBeGreaterThan(reservedId)
      expect(first).toBeLessThan(last)
    })

    it('records an activation, links its certificate and reads it back in full', async () => {
      await store.certificates.record(certificate(1), at())
      const computer = await store.computers.recordActivation(activation(1, {displayName: 'Web 1', group: 'web', address: '10.0.0.1', policy: 'base'}), at())
      expect(computer).toEqual({
        id: expect.any(Number),
        guid: activation(1).guid,
        hostname: 'host-1',
        displayName: 'Web 1',
        description: null,
        group: 'web',
        policy: 'base',
        address: '10.0.0.1',
        mode: 'bidirectional',
        state: 'activated',
        hostInfo: {hostname: 'host-1', platform: 'linux', clock: '2026-12-01T10:00:00.000Z'},
        certSerial: certificate(1).serial,
        certSha256: certificate(1).sha256,
        createdAt: '2026-12-01T10:00:00.000Z',
        activatedAt: '2026-12-01T10:00:00.000Z',
        lastSeenAt: '2026-12-01T10:00:00.000Z',
        heartbeatIntervalSeconds: null,
        missedHeartbeats: null,
        configPolicy: null,
        configVersion: null,
        configSha256: null,
        certNotBefore: '2026-12-01T00:00:00.000Z',
        certNotAfter: '2027-12-01T00:00:00.000Z',
        renewalSha256: null,
        renewRequested: false,
      })
      expect(await store.computers.get(computer.id)).toEqual(computer)
      expect(await store.computers.byCertificate(certificate(1).sha256)).toEqual(computer)
      expect(await store.computers.byCertificate(certificate(9).sha256)).toBeUndefined()
      expect(await store.computers.get(computer.id + 100)).toBeUndefined()
      expect(await store.computers.count()).toBe(1)
      expect(await store.computers.list()).toEqual([computer])
    })

    it('poll candidates: activated or being deactivated, with an address, and manager-initiated or with operations queued', async () => {
      const managerInitiated = await activated(store, 1, {address: '10.0.0.1', mode: 'manager-initiated'})
      const queued = await activated(store, 2, {address: '10.0.0.2'})
      const finished = await activated(store, 3, {address: '10.0.0.3'})
      const agentInitiated = await activated(store, 4, {address: '10.0.0.4', mode: 'agent-initiated'})
      const noAddress = await activated(store, 5, {mode: 'manager-initiated'})
      const deactivating = await activated(store, 6, {address: '10.0.0.6'})
      const deactivated = await activated(store, 7, {address: '10.0.0.7', mode: 'manager-initiated'})
      await activated(store, 8, {address: '10.0.0.8'})
      for (const id of [queued, agentInitiated, noAddress]) await store.operations.queue(id, 'GetAgentStatus', {}, at(1))
      const done = await store.operations.queue(finished, 'GetAgentStatus', {}, at(1))
      await store.operations.finish(done.id, {ok: true, result: {}, maxAttempts: 3}, at(2))
      await store.computers.beginDeactivation(deactivating, at(2))
      await store.computers.beginDeactivation(deactivated, at(2))
      await store.computers.finishDeactivation(deactivated, {remove: false, at: at(3)})
      const candidates = await store.computers.pollCandidates()
      expect(candidates.map((c) => c.id)).toEqual([managerInitiated, queued, deactivating])
      expect(candidates[0]).toEqual(await store.computers.get(managerInitiated))
      expect(candidates[2]).toMatchObject({state: 'deactivation-pending', address: '10.0.0.6'})
    })

    it('pages: every computer in id order, a page at a time, the same as list, with the same keys on both engines', async () => {
      for (let n = 1; n <= 5; n++) await activated(store, n, {address: `10.0.0.${n}`})
      const all = async (pageSize?: number) => {
        const pages: number[] = []
        const seen = []
        for await (const page of store.computers.pages(pageSize)) {
          pages.push(page.length)
          seen.push(...page)
        }

        return {pages, seen}
      }

      const listed = await store.computers.list()
      expect(listed).toHaveLength(5)
      for (const pageSize of [1, 2, 5, 6, undefined]) expect((await all(pageSize)).seen).toEqual(listed)
      expect((await all(2)).pages).toEqual([2, 2, 1])
      expect((await all(5)).pages).toEqual([5])
      // The listing's --json prints a computer's keys in their order: the engines agree on it.
      const keys = ['id', 'guid', 'hostname', 'displayName', 'description', 'group', 'policy', 'address', 'mode', 'state', 'hostInfo', 'certSerial', 'certSha256', 'createdAt', 'activatedAt', 'lastSeenAt', 'heartbeatIntervalSeconds', 'missedHeartbeats', 'configPolicy', 'configVersion', 'configSha256', 'certNotBefore', 'certNotAfter', 'renewalSha256', 'renewRequested']
      for (const computer of [...(await all()).seen, await store.computers.get(1)]) expect(Object.keys(computer!)).toEqual(keys)
    })

    it('upserts on the GUID: a reactivation keeps the id, the creation time and what it does not restate', async () => {
      const id = await activated(store, 1, {displayName: 'Web 1', description: 'first', group: 'web', policy: 'base', address: '10.0.0.1'})
      await store.certificates.record(certificate(2), at(30))
      const again = await store.computers.recordActivation(activation(1, {hostname: 'renamed', description: 'second', mode: 'agent-initiated', hostInfo: {v: 2}, certSerial: certificate(2).serial, certSha256: certificate(2).sha256}), at(30))
      expect(again).toMatchObject({
        id,
        hostname: 'renamed',
        displayName: 'Web 1',
        description: 'second',
        group: 'web',
        policy: 'base',
        address: '10.0.0.1',
        mode: 'agent-initiated',
        state: 'activated',
        hostInfo: {v: 2},
        certSha256: certificate(2).sha256,
        createdAt: iso(0),
        activatedAt: iso(30),
        lastSeenAt: iso(30),
      })
      expect(await store.computers.count()).toBe(1)
      expect((await store.computers.byCertificate(certificate(2).sha256))?.id).toBe(id)
      const other = await activated(store, 3)
      expect(other).toBeGreaterThan(id)
      expect((await store.computers.list()).map((c) => c.id)).toEqual([id, other])
    })

    it('matches by GUID in any case, hostname, display name or address, in id order', async () => {
      const a = await activated(store, 1, {hostname: 'shared', displayName: 'alpha', address: '10.0.0.1'})
      const b = await activated(store, 2, {hostname: 'beta', displayName: 'shared'})
      const c = await activated(store, 3, {hostname: 'gamma', address: 'shared'})
      const ids = async (ref: string) => (await store.computers.matching(ref)).map((computer) => computer.id)
      expect(await ids('shared')).toEqual([a, b, c])
      expect(await ids(activation(2).guid.toLowerCase())).toEqual([b])
      expect(await ids(activation(2).guid)).toEqual([b])
      expect(await ids('alpha')).toEqual([a])
      expect(await ids('10.0.0.1')).toEqual([a])
      expect(await ids('ALPHA')).toEqual([])
      // Case folds for ASCII letters only, as SQLite's NOCASE does, whatever the database's collation.
      const accented = await activated(store, 4, {guid: 'ÉCOLE-0004'})
      expect(await ids('ÉCOLE-0004')).toEqual([accented])
      expect(await ids('École-0004')).toEqual([accented])
      expect(await ids('éCOLE-0004')).toEqual([])
      expect(await ids('nothing')).toEqual([])
      expect((await store.computers.byHostname('shared')).map((computer) => computer.id)).toEqual([a])
      expect(await store.computers.byHostname('SHARED')).toEqual([])
    })

    it('changes communication settings field by field: undefined keeps, null clears', async () => {
      const id = await activated(store, 1)
      await store.computers.setCommunication(id, {heartbeatIntervalSeconds: 30, missedHeartbeats: 4})
      expect(await store.computers.get(id)).toMatchObject({mode: 'bidirectional', heartbeatIntervalSeconds: 30, missedHeartbeats: 4})
      await store.computers.setCommunication(id, {mode: 'manager-initiated'})
      expect(await store.computers.get(id)).toMatchObject({mode: 'manager-initiated', heartbeatIntervalSeconds: 30, missedHeartbeats: 4})
      await store.computers.setCommunication(id, {heartbeatIntervalSeconds: null})
      expect(await store.computers.get(id)).toMatchObject({mode: 'manager-initiated', heartbeatIntervalSeconds: null, missedHeartbeats: 4})
      await store.computers.setCommunication(id, {missedHeartbeats: null, mode: 'agent-initiated'})
      expect(await store.computers.get(id)).toMatchObject({mode: 'agent-initiated', heartbeatIntervalSeconds: null, missedHeartbeats: null})
    })

    it('records contacts (clock, last seen, applied configuration) and applied configurations alone', async () => {
      const id = await activated(store, 1)
      await store.computers.recordContact(id, {at: at(60), clock: '2026-12-01T10:00:59.000Z', applied: {policy: 'base', version: 2, sha256: 'abc'}})
      expect(await store.computers.get(id)).toMatchObject({
        hostInfo: {hostname: 'host-1', platform: 'linux', clock: '2026-12-01T10:00:59.000Z'},
        lastSeenAt: iso(60),
        configPolicy: 'base',
        configVersion: 2,
        configSha256: 'abc',
      })
      await store.computers.recordContact(id, {at: at(90), clock: 'later'})
      expect(await store.computers.get(id)).toMatchObject({hostInfo: {hostname: 'host-1', platform: 'linux', clock: 'later'}, lastSeenAt: iso(90), configPolicy: null, configVersion: null, configSha256: null})
      await store.computers.recordAppliedConfiguration(id, {policy: 'web', version: 7, sha256: 'def'})
      expect(await store.computers.get(id)).toMatchObject({configPolicy: 'web', configVersion: 7, configSha256: 'def', lastSeenAt: iso(90)})
      await store.computers.recordAppliedConfiguration(id, undefined)
      expect(await store.computers.get(id)).toMatchObject({configPolicy: null, configVersion: null, configSha256: null})
    })

    it('describes a computer as dsa_control -m asks: given fields only, classic words merged into the host information', async () => {
      const id = await activated(store, 1)
      await store.computers.describe(id, {displayName: 'web 01', group: 'Prod/Web'})
      await store.computers.describe(id, {description: 'front', classicWords: {externalid: 'x-1', relayid: '7'}})
      await store.computers.describe(id, {classicWords: {relayid: '8'}})
      await store.computers.describe(id, {})
      expect(await store.computers.get(id)).toMatchObject({
        displayName: 'web 01',
        description: 'front',
        group: 'Prod/Web',
        hostInfo: {hostname: 'host-1', platform: 'linux', classicWords: {externalid: 'x-1', relayid: '8'}},
      })
    })

    it('marks only an activated computer as needing reactivation', async () => {
      const id = await activated(store, 1)
      const pending = await activated(store, 2)
      await store.computers.beginDeactivation(pending, at())
      await store.computers.markReactivationRequired(id)
      await store.computers.markReactivationRequired(pending)
      expect((await store.computers.get(id))?.state).toBe('reactivation-required')
      expect((await store.computers.get(pending))?.state).toBe('deactivation-pending')
    })

    it('begins a deactivation once: pending, with one Deactivate queued however often it is asked', async () => {
      const id = await activated(store, 1)
      await store.computers.beginDeactivation(id, at(5))
      await store.computers.beginDeactivation(id, at(6))
      expect((await store.computers.get(id))?.state).toBe('deactivation-pending')
      expect(await store.operations.queued(id)).toEqual([
        {id: expect.any(Number), computerId: id, command: 'Deactivate', body: {}, state: 'queued', attempts: 0, createdAt: iso(5), finishedAt: null, result: null},
      ])
      await expect(store.computers.beginDeactivation(id + 100, at())).rejects.toThrow()
      expect(await store.operations.list()).toHaveLength(1)
    })

    it('finishes a deactivation: certificate revoked, queue cancelled, computer kept as deactivated', async () => {
      const id = await activated(store, 1)
      const other = await activated(store, 2)
      await store.computers.beginDeactivation(id, at())
      await store.operations.queue(other, 'GetAgentStatus', {}, at())
      await store.computers.finishDeactivation(id, {remove: false, at: at(10)})
      expect((await store.computers.get(id))?.state).toBe('deactivated')
      expect(await store.certificates.revocation(certificate(1).sha256)).toEqual({revokedAt: iso(10), reason: 'cessationOfOperation'})
      expect(await store.certificates.revocationVersion()).toBe(1)
      expect(await store.operations.queued(id)).toEqual([])
      expect((await store.operations.list(id)).map((op) => [op.command, op.state, op.result, op.finishedAt])).toEqual([['Deactivate', 'failed', 'cancelled: computer deactivated', null]])
      expect((await store.operations.queued(other)).map((op) => op.command)).toEqual(['GetAgentStatus'])
      // Finishing again revokes nothing new: the certificate is revoked already.
      await store.computers.finishDeactivation(id, {remove: false, at: at(20)})
      expect(await store.certificates.revocationVersion()).toBe(1)
    })

    it('finishes a deactivation by removing the computer: its queue goes, its events and certificate stay', async () => {
      const id = await activated(store, 1)
      await store.operations.queue(id, 'GetAgentStatus', {}, at())
      await store.events.store(id, {instance: 'agent-db', events: [{id: 1, at: iso(1), type: 'started', detail: {}}]}, at(2))
      await store.computers.finishDeactivation(id, {remove: true, at: at(10)})
      expect(await store.computers.get(id)).toBeUndefined()
      expect(await store.computers.count()).toBe(0)
      expect(await store.operations.list()).toEqual([])
      expect(await store.computers.byCertificate(certificate(1).sha256)).toBeUndefined()
      expect(await store.certificates.isIssued(certificate(1).sha256)).toBe(true)
      expect(await store.certificates.isRevoked(certificate(1).sha256)).toBe(true)
      expect(await store.events.list({})).toMatchObject([{computerId: null, hostname: null, type: 'started'}])
    })

    it('assigns a policy and queues one configuration until it has been sent', async () => {
      const id = await activated(store, 1)
      await store.computers.assignPolicy(id, 'web', at(1))
      await store.computers.assignPolicy(id, 'db', at(2))
      expect((await store.computers.get(id))?.policy).toBe('db')
      const queued = await store.operations.queued(id)
      expect(queued.map((op) => [op.command, op.createdAt])).toEqual([['SetSecurityConfiguration', iso(1)]])
      await store.operations.finish(queued[0].id, {ok: true, result: {}, maxAttempts: 3}, at(3))
      await store.computers.assignPolicy(id, 'web', at(4))
      expect((await store.operations.queued(id)).map((op) => [op.command, op.createdAt])).toEqual([['SetSecurityConfiguration', iso(4)]])
    })
  })

  describe('certificate renewal', () => {
    const renewed = (n: number) => ({sha256: certificate(n).sha256, serial: certificate(n).serial, notBefore: '2027-08-01T00:00:00.000Z', notAfter: '2028-09-01T00:00:00.000Z'})
    const renewal = (n: number) => ({...certificate(n), notBefore: renewed(n).notBefore, notAfter: renewed(n).notAfter})

    it('links a renewed certificate at once, and makes it the computer\'s only when finished: the old one revoked as superseded', async () => {
      const id = await activated(store, 1)
      await store.certificates.record(renewal(2), at(10), {computerId: id})
      expect(await store.computers.beginRenewal(id, certificate(2).sha256, {current: certificate(1).sha256, renewal: null})).toBe(true)
      expect(await store.computers.get(id)).toMatchObject({certSha256: certificate(1).sha256, renewalSha256: certificate(2).sha256})
      expect(await store.certificates.isRevoked(certificate(1).sha256)).toBe(false)
      const before = await store.certificates.revocationVersion()

      expect(await store.computers.finishRenewal(id, renewed(2), at(20))).toBe(true)
      expect(await store.computers.get(id)).toMatchObject({
        certSha256: certificate(2).sha256, certSerial: certificate(2).serial,
        certNotBefore: '2027-08-01T00:00:00.000Z', certNotAfter: '2028-09-01T00:00:00.000Z', renewalSha256: null, renewRequested: false,
      })
      expect(await store.certificates.revocation(certificate(1).sha256)).toEqual({revokedAt: iso(20), reason: 'superseded'})
      expect(await store.certificates.isRevoked(certificate(2).sha256)).toBe(false)
      expect(await store.certificates.revocationVersion()).toBeGreaterThan(before)
      expect((await store.computers.byCertificate(certificate(2).sha256))?.id).toBe(id)
    })

    it('refuses to finish with a certificate not issued for this computer, revoked, or its current one, changing nothing', async () => {
      const id = await activated(store, 1)
      const other = await activated(store, 9)
      expect(await store.computers.finishRenewal(id, renewed(2), at(5))).toBe(false)
      await store.certificates.record(renewal(2), at(10), {computerId: id})
      expect(await store.computers.beginRenewal(id, certificate(2).sha256, {current: certificate(1).sha256, renewal: null})).toBe(true)
      // Unknown, another computer's, revoked, the current one.
      expect(await store.computers.finishRenewal(id, renewed(3), at(20))).toBe(false)
      await store.certificates.record(renewal(4), at(10), {computerId: other})
      expect(await store.computers.finishRenewal(id, renewed(4), at(20))).toBe(false)
      await store.certificates.record(renewal(5), at(10), {computerId: id})
      await store.certificates.revoke(certificate(5).sha256, 'keyCompromise', at(11))
      expect(await store.computers.finishRenewal(id, renewed(5), at(20))).toBe(false)
      expect(await store.computers.finishRenewal(id, renewed(1), at(20))).toBe(false)
      expect(await store.computers.finishRenewal(id + 100, renewed(2), at(20))).toBe(false)
      expect(await store.computers.get(id)).toMatchObject({certSha256: certificate(1).sha256, renewalSha256: certificate(2).sha256})
      expect(await store.certificates.isRevoked(certificate(1).sha256)).toBe(false)
      expect(await store.certificates.isRevoked(certificate(2).sha256)).toBe(false)
      expect(await store.certificates.isRevoked(certificate(4).sha256)).toBe(false)
    })

    it('begins one renewal at a time: a contact that read the computer before another began or finished one leaves it alone', async () => {
      const id = await activated(store, 1)
      await store.certificates.record(renewal(2), at(10), {computerId: id})
      await store.certificates.record(renewal(3), at(10), {computerId: id})
      // Both contacts read "no renewal in progress"; the second to write loses.
      expect(await store.computers.beginRenewal(id, certificate(2).sha256, {current: certificate(1).sha256, renewal: null})).toBe(true)
      expect(await store.computers.beginRenewal(id, certificate(3).sha256, {current: certificate(1).sha256, renewal: null})).toBe(false)
      expect((await store.computers.get(id))?.renewalSha256).toBe(certificate(2).sha256)
      // A later contact that read it (the agent never took it) starts over.
      expect(await store.computers.beginRenewal(id, certificate(3).sha256, {current: certificate(1).sha256, renewal: certificate(2).sha256})).toBe(true)
      expect((await store.computers.get(id))?.renewalSha256).toBe(certificate(3).sha256)
      // Finished meanwhile: a contact that read the computer before (its old certificate) renews nothing.
      expect(await store.computers.finishRenewal(id, renewed(3), at(30))).toBe(true)
      await store.certificates.record(renewal(4), at(40), {computerId: id})
      expect(await store.computers.beginRenewal(id, certificate(4).sha256, {current: certificate(1).sha256, renewal: null})).toBe(false)
      expect(await store.computers.get(id)).toMatchObject({certSha256: certificate(3).sha256, renewalSha256: null})
    })

    it('accepts an earlier renewal the agent installed after all; every other certificate of the computer is revoked then', async () => {
      const id = await activated(store, 1)
      await store.certificates.record(renewal(2), at(10), {computerId: id})
      expect(await store.computers.beginRenewal(id, certificate(2).sha256, {current: certificate(1).sha256, renewal: null})).toBe(true)
      await store.certificates.record(renewal(3), at(20), {computerId: id})
      expect(await store.computers.beginRenewal(id, certificate(3).sha256, {current: certificate(1).sha256, renewal: certificate(2).sha256})).toBe(true)
      // The agent presents the first: it had installed it before its connection dropped.
      expect(await store.computers.finishRenewal(id, renewed(2), at(30))).toBe(true)
      expect(await store.computers.get(id)).toMatchObject({certSha256: certificate(2).sha256, renewalSha256: null})
      expect(await store.certificates.revocation(certificate(1).sha256)).toEqual({revokedAt: iso(30), reason: 'superseded'})
      expect(await store.certificates.revocation(certificate(3).sha256)).toEqual({revokedAt: iso(30), reason: 'superseded'})
      expect(await store.certificates.isRevoked(certificate(2).sha256)).toBe(false)
      // The one now revoked cannot take over afterwards.
      expect(await store.computers.finishRenewal(id, renewed(3), at(40))).toBe(false)
    })

    it('marks activated computers for renewal, by id or all, never the deactivated or reserved; finishing clears the mark', async () => {
      const one = await activated(store, 1)
      const two = await activated(store, 2)
      const gone = await activated(store, 3)
      await store.computers.finishDeactivation(gone, {remove: false, at: at(1)})
      expect(await store.computers.reserve(claim(4, 'pending', true), at(1))).toBe(true)
      expect(await store.computers.requestRenewal([one, gone])).toBe(1)
      expect((await store.computers.list()).filter((c) => c.renewRequested).map((c) => c.id)).toEqual([one])
      expect(await store.computers.requestRenewal('all')).toBe(2)
      expect((await store.computers.list()).filter((c) => c.renewRequested).map((c) => c.id).sort()).toEqual([one, two].sort())
      await store.certificates.record(renewal(5), at(10), {computerId: one})
      expect(await store.computers.beginRenewal(one, certificate(5).sha256, {current: certificate(1).sha256, renewal: null})).toBe(true)
      expect(await store.computers.finishRenewal(one, renewed(5), at(11))).toBe(true)
      expect((await store.computers.get(one))?.renewRequested).toBe(false)
      expect((await store.computers.get(two))?.renewRequested).toBe(true)
    })
  })

  describe('name reservations', () => {
    const held = async (hostname: string) => (await store.computers.byHostname(hostname)).map((computer) => [computer.guid, computer.state])

    it('reserves a name as an `activating` computer, which the activation then turns into the computer', async () => {
      expect(await store.computers.reserve(claim(1, 'web'), at(1))).toBe(true)
      const [reserved] = await store.computers.byHostname('web')
      expect(reserved).toEqual({
        id: expect.any(Number), guid: activation(1).guid, hostname: 'web', displayName: null, description: null, group: null, policy: null, address: null,
        mode: 'bidirectional', state: 'activating', hostInfo: null, certSerial: null, certSha256: null, createdAt: iso(1), activatedAt: null, lastSeenAt: null,
        heartbeatIntervalSeconds: null, missedHeartbeats: null, configPolicy: null, configVersion: null, configSha256: null,
        certNotBefore: null, certNotAfter: null, renewalSha256: null, renewRequested: false,
      })
      await store.certificates.record(certificate(1), at(2))
      const computer = await store.computers.recordActivation(activation(1, {hostname: 'web'}), at(2))
      expect(computer).toMatchObject({id: reserved.id, state: 'activated', createdAt: iso(1), activatedAt: iso(2), certSha256: certificate(1).sha256})
      expect(await store.computers.count()).toBe(1)
    })

    it('with unique, refuses a name any other computer has (reserved or activated); without, reserves it alongside', async () => {
      expect(await store.computers.reserve(claim(1, 'web', true), at())).toBe(true)
      expect(await store.computers.reserve(claim(2, 'web', true), at(1))).toBe(false)
      expect(await held('web')).toEqual([[activation(1).guid, 'activating']])
      expect(await store.computers.reserve(claim(2, 'web', false), at(1))).toBe(true)
      expect(await held('web')).toEqual([[activation(1).guid, 'activating'], [activation(2).guid, 'activating']])

      await activated(store, 3, {hostname: 'db'})
      expect(await store.computers.reserve(claim(4, 'db', true), at(2))).toBe(false)
      expect(await held('db')).toEqual([[activation(3).guid, 'activated']])
      expect(await store.computers.reserve(claim(4, 'db', false), at(2))).toBe(true)
      expect(await held('db')).toEqual([[activation(3).guid, 'activated'], [activation(4).guid, 'activating']])
      // A deactivated computer still has its name.
      const gone = await activated(store, 5, {hostname: 'old'})
      await store.computers.finishDeactivation(gone, {remove: false, at: at(3)})
      expect(await store.computers.reserve(claim(6, 'old', true), at(4))).toBe(false)
      // Names are compared exactly.
      expect(await store.computers.reserve(claim(7, 'DB', true), at(4))).toBe(true)
    })

    it('lets a computer claim its own name again (a reactivation), leaving its row as it is', async () => {
      const id = await activated(store, 1, {hostname: 'web'})
      expect(await store.computers.reserve(claim(1, 'web', true), at(10))).toBe(true)
      expect(await store.computers.get(id)).toMatchObject({state: 'activated', createdAt: iso(0), activatedAt: iso(0)})
      expect(await store.computers.count()).toBe(1)
      expect(await store.computers.reserve(claim(1, 'web', true), at(11))).toBe(true)
      expect(await store.computers.count()).toBe(1)
    })

    it('drops a reservation older than staleAfterMs (a crashed activation), and only a reservation', async () => {
      expect(await store.computers.reserve(claim(1, 'web', true, 60_000), at(0))).toBe(true)
      // Exactly staleAfterMs old: still held.
      expect(await store.computers.reserve(claim(2, 'web', true, 60_000), at(60))).toBe(false)
      const later = new Date(at(60).getTime() + 1)
      expect(await store.computers.reserve(claim(2, 'web', true, 60_000), later)).toBe(true)
      expect(await store.computers.matching(activation(1).guid)).toEqual([])
      expect(await store.computers.byHostname('web')).toMatchObject([{guid: activation(2).guid, state: 'activating', createdAt: later.toISOString()}])
      // An activated computer is never stale, however old.
      await activated(store, 3, {hostname: 'db'}, 0)
      expect(await store.computers.reserve(claim(4, 'db', true, 1), at(3600))).toBe(false)
      expect(await held('db')).toEqual([[activation(3).guid, 'activated']])
      // Staleness is per name: a fresh claim of another name leaves old reservations of this one.
      await store.computers.reserve(claim(5, 'mail', false), at(0))
      await store.computers.reserve(claim(6, 'files', false, 1), at(3600))
      expect(await held('mail')).toEqual([[activation(5).guid, 'activating']])
    })

    it('releases only a reservation: an activated computer under that GUID stays', async () => {
      await store.computers.reserve(claim(1, 'web', true), at())
      const id = await activated(store, 2, {hostname: 'db'})
      await store.computers.release(activation(1).guid)
      await store.computers.release(activation(2).guid)
      await store.computers.release('no-such-guid')
      expect(await store.computers.byHostname('web')).toEqual([])
      expect((await store.computers.get(id))?.state).toBe('activated')
      expect(await store.computers.reserve(claim(3, 'web', true), at(1))).toBe(true)
      // Released by its own GUID only.
      await store.computers.release(activation(4).guid)
      expect(await held('web')).toEqual([[activation(3).guid, 'activating']])
    })

    it('with cancelQueued, an activation cancels what was queued for that computer, and leaves what was done', async () => {
      const id = await activated(store, 1)
      const other = await activated(store, 2)
      const done = await store.operations.queue(id, 'GetAgentStatus', {}, at(1))
      await store.operations.finish(done.id, {ok: true, result: {status: 'fine'}, maxAttempts: 3}, at(2))
      const retried = await store.operations.queue(id, 'GetAgentEvents', {}, at(3))
      await store.operations.finish(retried.id, {ok: false, result: 'timeout', maxAttempts: 3}, at(4))
      const failed = await store.operations.queue(id, 'Deactivate', {}, at(5))
      await store.operations.finish(failed.id, {ok: false, result: {error: 'no'}, maxAttempts: 1}, at(6))
      await store.operations.queue(id, 'SetCommunication', {mode: 'agent-initiated'}, at(7))
      await store.operations.queue(other, 'GetAgentStatus', {}, at(8))
      // Without it, the queue stays.
      await store.certificates.record(certificate(3), at(9))
      await store.computers.recordActivation(activation(1, {certSerial: certificate(3).serial, certSha256: certificate(3).sha256}), at(9))
      expect((await store.operations.queued(id)).map((op) => op.command)).toEqual(['GetAgentEvents', 'SetCommunication'])

      await store.certificates.record(certificate(4), at(10))
      const again = await store.computers.recordActivation(activation(1, {certSerial: certificate(4).serial, certSha256: certificate(4).sha256}), at(10), {cancelQueued: true})
      expect(again.id).toBe(id)
      expect(await store.operations.queued(id)).toEqual([])
      expect((await store.operations.list(id)).map((op) => [op.command, op.state, op.attempts, op.finishedAt, op.result])).toEqual([
        ['GetAgentStatus', 'done', 1, iso(2), {status: 'fine'}],
        ['GetAgentEvents', 'failed', 1, null, 'cancelled: the computer was reactivated'],
        ['Deactivate', 'failed', 1, iso(6), {error: 'no'}],
        ['SetCommunication', 'failed', 0, null, 'cancelled: the computer was reactivated'],
      ])
      expect((await store.operations.queued(other)).map((op) => op.command)).toEqual(['GetAgentStatus'])
      // A new GUID has nothing to cancel.
      await store.certificates.record(certificate(5), at(11))
      expect(await store.computers.recordActivation(activation(5), at(11), {cancelQueued: true})).toMatchObject({state: 'activated'})
      expect((await store.operations.queued(other)).map((op) => op.command)).toEqual(['GetAgentStatus'])
    })
  })

  describe('certificates', () => {
    it('records a certificate and answers pem, issued and revocation for it', async () => {
      await store.certificates.record(certificate(1), at())
      expect(await store.certificates.pem(certificate(1).sha256)).toBe(certificate(1).pem)
      expect(await store.certificates.pem(certificate(2).sha256)).toBeUndefined()
      expect(await store.certificates.isIssued(certificate(1).sha256)).toBe(true)
      expect(await store.certificates.isIssued(certificate(2).sha256)).toBe(false)
      expect(await store.certificates.revocation(certificate(1).sha256)).toEqual({revokedAt: null, reason: null})
      expect(await store.certificates.revocation(certificate(2).sha256)).toBeUndefined()
      expect(await store.certificates.isRevoked(certificate(1).sha256)).toBe(false)
      await expect(store.certificates.record(certificate(1), at())).rejects.toThrow()
    })

    it('revokes once, bumping the CRL number on each revocation only, and lists by revocation time', async () => {
      for (const n of [1, 2, 3]) await store.certificates.record(certificate(n), at())
      expect(await store.certificates.revocationVersion()).toBe(0)
      expect(await store.certificates.revoke(certificate(3).sha256, 'keyCompromise', at(50))).toBe(true)
      expect(await store.certificates.revocationVersion()).toBe(1)
      expect(await store.certificates.revoke(certificate(3).sha256, 'superseded', at(60))).toBe(false)
      expect(await store.certificates.revoke(certificate(9).sha256, 'superseded', at(60))).toBe(false)
      expect(await store.certificates.revocationVersion()).toBe(1)
      expect(await store.certificates.revoke(certificate(1).sha256, 'superseded', at(10))).toBe(true)
      expect(await store.certificates.revoke(certificate(2).sha256, 'unspecified', at(50))).toBe(true)
      expect(await store.certificates.revocationVersion()).toBe(3)
      expect(await store.certificates.revocation(certificate(3).sha256)).toEqual({revokedAt: iso(50), reason: 'keyCompromise'})
      expect(await store.certificates.isRevoked(certificate(3).sha256)).toBe(true)
      // Same time: issue order.
      expect(await store.certificates.revoked()).toEqual([
        {serial: certificate(1).serial, sha256: certificate(1).sha256, subject: 'CN=agent-1', revokedAt: iso(10), reason: 'superseded'},
        {serial: certificate(2).serial, sha256: certificate(2).sha256, subject: 'CN=agent-2', revokedAt: iso(50), reason: 'unspecified'},
        {serial: certificate(3).serial, sha256: certificate(3).sha256, subject: 'CN=agent-3', revokedAt: iso(50), reason: 'keyCompromise'},
      ])
    })
  })

  describe('published CRLs', () => {
    it('has none at first, then the one with the highest number, read back in full', async () => {
      expect(await store.crls.latest()).toBeUndefined()
      expect(await store.crls.latestHead()).toBeUndefined()
      expect(await store.crls.publish(crl(1))).toBe(true)
      expect(await store.crls.latest()).toEqual(crl(1))
      expect(await store.crls.publish(crl(3, {revocationVersion: 5}))).toBe(true)
      // A lower number published late never becomes the latest.
      expect(await store.crls.publish(crl(2))).toBe(true)
      expect(await store.crls.latest()).toEqual(crl(3, {revocationVersion: 5}))
      // The head is the same row without its PEM.
      const {pem, ...head} = crl(3, {revocationVersion: 5})
      expect(pem.length).toBeGreaterThan(0)
      expect(await store.crls.latestHead()).toEqual(head)
      // Publishing is not revoking.
      expect(await store.certificates.revocationVersion()).toBe(0)
    })

    it('refuses a number already taken (another node issued it first), keeping the first', async () => {
      expect(await store.crls.publish(crl(1))).toBe(true)
      expect(await store.crls.publish(crl(1, {pem: 'another', revocationVersion: 9, publishedAt: iso(30)}))).toBe(false)
      expect(await store.crls.publish(crl(1))).toBe(false)
      expect(await store.crls.latest()).toEqual(crl(1))
    })

    it('keeps only the latest eleven: an older number is gone (free again), and still never the latest', async () => {
      for (let n = 1; n <= 15; n++) expect(await store.crls.publish(crl(n))).toBe(true)
      expect(await store.crls.latest()).toEqual(crl(15))
      // 5..15 are kept, 1..4 are gone.
      expect(await store.crls.publish(crl(5, {pem: 'again'}))).toBe(false)
      expect(await store.crls.publish(crl(4, {pem: 'again'}))).toBe(true)
      expect(await store.crls.publish(crl(1, {pem: 'again'}))).toBe(true)
      expect(await store.crls.latest()).toEqual(crl(15))
    })
  })

  describe('enrolment tokens', () => {
    it('creates tokens and lists them in creation order (ties in byte order of id), read back in full', async () => {
      const full = token(1, {createdAt: iso(5), expiresAt: iso(3600), usesAllowed: 3, policy: 'web', group: 'linux'})
      await store.tokens.create(full)
      await store.tokens.create(token(2, {id: 'a', createdAt: iso(1)}))
      await store.tokens.create(token(3, {id: 'B', createdAt: iso(1)}))
      expect(await store.tokens.list()).toEqual([token(3, {id: 'B', createdAt: iso(1)}), token(2, {id: 'a', createdAt: iso(1)}), full])
      // The id and the secret digest are each one token's.
      await expect(store.tokens.create(token(4, {id: full.id}))).rejects.toThrow()
      await expect(store.tokens.create(token(5, {secretSha256: full.secretSha256}))).rejects.toThrow()
      expect(await store.tokens.list()).toHaveLength(3)
    })

    it('counts a use of a live token, refusing an unknown secret', async () => {
      await store.tokens.create(token(1, {policy: 'web', group: 'linux'}))
      expect(await store.tokens.use(token(9).secretSha256, at())).toEqual({refused: 'unknown'})
      expect(await store.tokens.use(token(1).secretSha256, at(1))).toEqual({token: token(1, {policy: 'web', group: 'linux', uses: 1})})
      // No limit: any number of uses.
      for (let n = 2; n <= 5; n++) expect(await store.tokens.use(token(1).secretSha256, at(n))).toEqual({token: token(1, {policy: 'web', group: 'linux', uses: n})})
      expect(await store.tokens.list()).toEqual([token(1, {policy: 'web', group: 'linux', uses: 5})])
    })

    it('revokes once: a revoked token is refused as revoked, whatever else holds', async () => {
      await store.tokens.create(token(1, {expiresAt: iso(10), usesAllowed: 1}))
      expect(await store.tokens.revoke(token(1).id, at(5))).toBe(true)
      expect(await store.tokens.revoke(token(1).id, at(6))).toBe(false)
      expect(await store.tokens.revoke('nothing', at(6))).toBe(false)
      expect((await store.tokens.list())[0]).toMatchObject({revokedAt: iso(5), uses: 0})
      expect(await store.tokens.use(token(1).secretSha256, at(6))).toEqual({refused: 'revoked'})
      expect(await store.tokens.use(token(1).secretSha256, at(20))).toEqual({refused: 'revoked'})
      expect((await store.tokens.list())[0].uses).toBe(0)
      expect(await store.tokens.live(at(6))).toBe(0)
    })

    it('expires at exactly expiresAt, for use and for live alike', async () => {
      await store.tokens.create(token(1, {expiresAt: iso(60)}))
      const justBefore = new Date(at(60).getTime() - 1)
      expect(await store.tokens.live(justBefore)).toBe(1)
      expect(await store.tokens.use(token(1).secretSha256, justBefore)).toMatchObject({token: {uses: 1}})
      expect(await store.tokens.live(at(60))).toBe(0)
      expect(await store.tokens.use(token(1).secretSha256, at(60))).toEqual({refused: 'expired'})
      expect(await store.tokens.use(token(1).secretSha256, at(61))).toEqual({refused: 'expired'})
      // A refusal counts nothing.
      expect((await store.tokens.list())[0].uses).toBe(1)
    })

    it('is used up when its uses reach usesAllowed; a use given back makes it live again, never below 0', async () => {
      await store.tokens.create(token(1, {usesAllowed: 2}))
      expect(await store.tokens.use(token(1).secretSha256, at(1))).toMatchObject({token: {uses: 1, usesAllowed: 2}})
      expect(await store.tokens.use(token(1).secretSha256, at(2))).toMatchObject({token: {uses: 2, usesAllowed: 2}})
      expect(await store.tokens.use(token(1).secretSha256, at(3))).toEqual({refused: 'used-up'})
      expect((await store.tokens.list())[0].uses).toBe(2)
      expect(await store.tokens.live(at(3))).toBe(0)
      await store.tokens.unuse(token(1).id)
      expect(await store.tokens.live(at(3))).toBe(1)
      expect(await store.tokens.use(token(1).secretSha256, at(4))).toMatchObject({token: {uses: 2}})
      expect(await store.tokens.use(token(1).secretSha256, at(5))).toEqual({refused: 'used-up'})
      for (let n = 0; n < 4; n++) await store.tokens.unuse(token(1).id)
      expect((await store.tokens.list())[0].uses).toBe(0)
      await store.tokens.unuse('nothing')
      // Allowing none: used up from the start.
      await store.tokens.create(token(2, {usesAllowed: 0}))
      expect(await store.tokens.use(token(2).secretSha256, at(6))).toEqual({refused: 'used-up'})
    })

    it('counts as live only tokens neither revoked, expired nor used up', async () => {
      expect(await store.tokens.live(at())).toBe(0)
      await store.tokens.create(token(1))
      await store.tokens.create(token(2, {expiresAt: iso(30)}))
      await store.tokens.create(token(3, {usesAllowed: 1}))
      await store.tokens.create(token(4))
      await store.tokens.create(token(5, {usesAllowed: 1, uses: 1}))
      expect(await store.tokens.live(at())).toBe(4)
      await store.tokens.revoke(token(4).id, at(1))
      await store.tokens.use(token(3).secretSha256, at(2))
      expect(await store.tokens.live(at(2))).toBe(2)
      expect(await store.tokens.live(at(30))).toBe(1)
    })
  })

  describe('operations', () => {
    it('queues operations and lists them in queue order, per computer or all', async () => {
      const a = await activated(store, 1)
      const b = await activated(store, 2)
      const first = await store.operations.queue(a, 'GetAgentStatus', {detail: [1, 'two', {three: 3}]}, at(1))
      expect(first).toEqual({id: expect.any(Number), computerId: a, command: 'GetAgentStatus', body: {detail: [1, 'two', {three: 3}]}, state: 'queued', attempts: 0, createdAt: iso(1), finishedAt: null, result: null})
      const second = await store.operations.queue(b, 'GetAgentEvents', {}, at(2))
      const third = await store.operations.queue(a, 'SetCommunication', {mode: 'agent-initiated'}, at(3))
      expect((await store.operations.queued(a)).map((op) => op.id)).toEqual([first.id, third.id])
      expect((await store.operations.list()).map((op) => op.id)).toEqual([first.id, second.id, third.id])
      expect((await store.operations.list(b)).map((op) => op.id)).toEqual([second.id])
      expect(await store.operations.list(b + 100)).toEqual([])
      await expect(store.operations.queue(b + 100, 'GetAgentStatus', {}, at())).rejects.toThrow()
    })

    it('finishes an operation: done at once, or retried until maxAttempts and failed then', async () => {
      const id = await activated(store, 1)
      const done = await store.operations.queue(id, 'GetAgentStatus', {}, at())
      const flaky = await store.operations.queue(id, 'GetAgentEvents', {}, at())
      await store.operations.finish(done.id, {ok: true, result: {status: 'fine'}, maxAttempts: 3}, at(5))
      const state = async (opId: number) => {
        const op = (await store.operations.list(id)).find((o) => o.id === opId)!
        return [op.state, op.attempts, op.finishedAt, op.result]
      }
      expect(await state(done.id)).toEqual(['done', 1, iso(5), {status: 'fine'}])
      await store.operations.finish(flaky.id, {ok: false, result: 'timeout', maxAttempts: 3}, at(6))
      expect(await state(flaky.id)).toEqual(['queued', 1, null, 'timeout'])
      await store.operations.finish(flaky.id, {ok: false, result: 'timeout again', maxAttempts: 3}, at(7))
      expect(await state(flaky.id)).toEqual(['queued', 2, null, 'timeout again'])
      expect((await store.operations.queued(id)).map((op) => op.id)).toEqual([flaky.id])
      await store.operations.finish(flaky.id, {ok: false, result: undefined, maxAttempts: 3}, at(8))
      expect(await state(flaky.id)).toEqual(['failed', 3, iso(8), null])
      expect(await store.operations.queued(id)).toEqual([])
      const once = await store.operations.queue(id, 'Deactivate', {}, at())
      await store.operations.finish(once.id, {ok: false, result: {error: 'no'}, maxAttempts: 1}, at(9))
      expect(await state(once.id)).toEqual(['failed', 1, iso(9), {error: 'no'}])
    })
  })

  describe('events', () => {
    it('stores a batch once: a re-delivered event (same agent database and id) is ignored', async () => {
      const id = await activated(store, 1)
      const event = (n: number) => ({id: n, at: iso(n), type: 'tick', detail: {n}})
      expect(await store.events.store(id, {instance: 'db-1', events: [event(1), event(2), event(3)]}, at(10))).toBe(3)
      expect(await store.events.store(id, {instance: 'db-1', events: [event(2), event(3), event(4)]}, at(11))).toBe(1)
      expect(await store.events.store(id, {instance: 'db-2', events: [event(1)]}, at(12))).toBe(1)
      expect(await store.events.store(id, {instance: 'db-1', events: [event(5), event(5)]}, at(13))).toBe(1)
      expect(await store.events.store(id, {instance: 'db-1', events: []}, at(14))).toBe(0)
      const events = await store.events.list({})
      expect(events.map((e) => e.detail.n)).toEqual([1, 1, 2, 3, 4, 5])
      expect(events[0]).toEqual({id: expect.any(Number), computerId: id, hostname: 'host-1', at: iso(1), type: 'tick', detail: {n: 1}, receivedAt: iso(10)})
    })

    it('filters by computer, time and type; the limit keeps the newest; ordered by time then arrival', async () => {
      const a = await activated(store, 1)
      const b = await activated(store, 2)
      await store.events.store(a, {instance: 'a', events: [
        {id: 1, at: iso(30), type: 'late', detail: {k: 'a1'}},
        {id: 2, at: iso(10), type: 'tick', detail: {k: 'a2'}},
        {id: 3, at: iso(20), type: 'tick', detail: {k: 'a3'}},
      ]}, at(40))
      await store.events.store(b, {instance: 'b', events: [
        {id: 1, at: iso(20), type: 'tick', detail: {k: 'b1'}},
        {id: 2, at: iso(5), type: 'tick', detail: {k: 'b2'}},
      ]}, at(41))
      const keys = async (filter: Parameters<ManagerStore['events']['list']>[0]) => (await store.events.list(filter)).map((e) => e.detail.k)
      expect(await keys({})).toEqual(['b2', 'a2', 'a3', 'b1', 'a1'])
      expect(await keys({computerId: a})).toEqual(['a2', 'a3', 'a1'])
      expect(await keys({since: iso(20)})).toEqual(['a3', 'b1', 'a1'])
      expect(await keys({type: 'tick', computerId: b})).toEqual(['b2', 'b1'])
      expect(await keys({limit: 2})).toEqual(['b1', 'a1'])
      expect(await keys({limit: 2, type: 'tick'})).toEqual(['a3', 'b1'])
      expect(await keys({limit: 0})).toEqual([])
      expect(await keys({limit: -1})).toHaveLength(5)
      expect(await keys({computerId: b + 100})).toEqual([])
      expect((await store.events.list({computerId: b}))[0].hostname).toBe('host-2')
    })
  })

  describe('policies', () => {
    it('saves a new policy as version 1, and leaves an existing one alone without replace', async () => {
      const saved = await store.policies.save(policy('web', {firewall: {enabled: true}, z: 1, a: [1, 2]}, {seconds: 1}))
      expect(saved).toEqual({
        policy: {id: expect.any(Number), name: 'web', document: {firewall: {enabled: true}, z: 1, a: [1, 2]}, version: 1, sha256: 'sha-web-1', createdAt: iso(1), updatedAt: iso(1)},
        queued: 0,
        existed: false,
      })
      const again = await store.policies.save(policy('web', {other: true}, {seconds: 2}))
      expect(again).toEqual({policy: saved.policy, queued: 0, existed: true})
      expect(await store.policies.find('web')).toEqual(saved.policy)
    })

    it('replaces with a new version, queueing it once for each activated computer assigned to it', async () => {
      await store.policies.save(policy('web', {v: 1}, {seconds: 1}))
      const one = await activated(store, 1, {policy: 'web'})
      const two = await activated(store, 2, {policy: 'web'})
      const pending = await activated(store, 3, {policy: 'web'})
      const elsewhere = await activated(store, 4, {policy: 'db'})
      await store.computers.beginDeactivation(pending, at())
      await store.computers.assignPolicy(two, 'web', at(3))
      const replaced = await store.policies.save(policy('web', {v: 2}, {replace: true, seconds: 5}))
      expect(replaced).toMatchObject({policy: {name: 'web', document: {v: 2}, version: 2, sha256: 'sha-web-2', createdAt: iso(1), updatedAt: iso(5)}, queued: 2, existed: true})
      const configurations = async (id: number) => (await store.operations.queued(id)).filter((op) => op.command === 'SetSecurityConfiguration').map((op) => op.createdAt)
      expect(await configurations(one)).toEqual([iso(5)])
      expect(await configurations(two)).toEqual([iso(3)])
      expect(await configurations(pending)).toEqual([])
      expect(await configurations(elsewhere)).toEqual([])
      expect((await store.policies.save(policy('web', {v: 3}, {replace: true, seconds: 6}))).policy.version).toBe(3)
      expect(await configurations(one)).toEqual([iso(5)])
      // Replace on a new name creates it.
      expect(await store.policies.save(policy('fresh', {}, {replace: true}))).toMatchObject({policy: {version: 1}, queued: 0, existed: false})
    })

    it('finds by name or by id (an id before a name of the same digits) and lists by name in byte order', async () => {
      const b = (await store.policies.save(policy('b', {}))).policy
      const upper = (await store.policies.save(policy('B', {}))).policy
      const digits = (await store.policies.save(policy(String(b.id), {named: 'digits'}))).policy
      const a = (await store.policies.save(policy('a', {}))).policy
      expect(await store.policies.find(String(b.id))).toEqual(b)
      expect(await store.policies.find(String(upper.id))).toEqual(upper)
      expect(await store.policies.find('b')).toEqual(b)
      expect(await store.policies.find('c')).toBeUndefined()
      expect(await store.policies.find('99999999999999999999999')).toBeUndefined()
      expect((await store.policies.list()).map((p) => p.name)).toEqual([digits.name, 'B', 'a', 'b'].sort((x, y) => (x < y ? -1 : 1)))
      expect((await store.policies.list()).map((p) => p.id).sort()).toEqual([a.id, b.id, upper.id, digits.id].sort())
    })
  })

  describe('operation claims', () => {
    const claimBy = (holder: string, untilSeconds: number) => ({holder, until: at(untilSeconds)})

    it('claims the queued operations in order for one holder; another gets none until the claim runs out', async () => {
      const id = await activated(store, 1)
      const first = await store.operations.queue(id, 'SetCommunication', {mode: 'agent-initiated'}, at())
      const second = await store.operations.queue(id, 'GetAgentStatus', {}, at())
      const claimed = await store.operations.claim(id, claimBy('node-a', 60), at(1))
      expect(claimed.map((op) => [op.id, op.command, op.body])).toEqual([[first.id, 'SetCommunication', {mode: 'agent-initiated'}], [second.id, 'GetAgentStatus', {}]])
      expect(await store.operations.claim(id, claimBy('node-b', 90), at(30))).toEqual([])
      // The holder itself may claim again (a second contact of the same process), and the claim is still its own.
      expect((await store.operations.claim(id, claimBy('node-a', 70), at(31))).map((op) => op.id)).toEqual([first.id, second.id])
      expect(await store.operations.claim(id, claimBy('node-b', 90), at(69))).toEqual([])
      // A claim is free at exactly its until: its holder died mid-contact.
      expect((await store.operations.claim(id, claimBy('node-b', 130), at(70))).map((op) => op.id)).toEqual([first.id, second.id])
      // Claimed operations are still queued: the queue does not change, only who delivers.
      expect((await store.operations.queued(id)).map((op) => op.id)).toEqual([first.id, second.id])
    })

    it('frees an operation when it finishes or its holder releases it, never another holder\'s', async () => {
      const id = await activated(store, 1)
      const done = await store.operations.queue(id, 'GetAgentStatus', {}, at())
      const retried = await store.operations.queue(id, 'GetAgentEvents', {}, at())
      const untouched = await store.operations.queue(id, 'SetCommunication', {}, at())
      await store.operations.claim(id, claimBy('node-a', 60), at())
      await store.operations.finish(done.id, {ok: true, result: null, maxAttempts: 3}, at(1))
      await store.operations.finish(retried.id, {ok: false, result: 'later', maxAttempts: 3}, at(1))
      await store.operations.release([untouched.id], 'node-b')
      expect((await store.operations.claim(id, claimBy('node-b', 60), at(2))).map((op) => op.id)).toEqual([retried.id])
      // node-a still held only `untouched`: releasing both frees that one, node-b keeps `retried`.
      await store.operations.release([untouched.id, retried.id], 'node-a')
      expect((await store.operations.claim(id, claimBy('node-c', 60), at(3))).map((op) => op.id)).toEqual([untouched.id])
      await store.operations.release([retried.id], 'node-c')
      expect((await store.operations.claim(id, claimBy('node-a', 60), at(4))).map((op) => op.id)).toEqual([])
      await store.operations.release([untouched.id, retried.id], 'node-b')
      expect((await store.operations.claim(id, claimBy('node-a', 60), at(5))).map((op) => op.id)).toEqual([retried.id])
      await store.operations.release([untouched.id], 'node-c')
      expect((await store.operations.claim(id, claimBy('node-a', 60), at(6))).map((op) => op.id)).toEqual([retried.id, untouched.id])
    })

    it('claims only queued operations of that computer', async () => {
      const a = await activated(store, 1)
      const b = await activated(store, 2)
      const mine = await store.operations.queue(a, 'GetAgentStatus', {}, at())
      const finished = await store.operations.queue(a, 'GetAgentEvents', {}, at())
      await store.operations.finish(finished.id, {ok: true, result: null, maxAttempts: 1}, at())
      await store.operations.queue(b, 'GetAgentStatus', {}, at())
      expect((await store.operations.claim(a, claimBy('node-a', 60), at())).map((op) => op.id)).toEqual([mine.id])
      expect(await store.operations.claim(b + 100, claimBy('node-a', 60), at())).toEqual([])
    })
  })

  describe('leases', () => {
    it('has one holder until it runs out (free at exactly until) or is released by its holder', async () => {
      expect(await store.leases.take('poll:1', 'node-a', at(10), at())).toBe(true)
      expect(await store.leases.take('poll:1', 'node-b', at(20), at(5))).toBe(false)
      expect(await store.leases.take('poll:2', 'node-b', at(20), at(5))).toBe(true)
      // The holder extends it.
      expect(await store.leases.take('poll:1', 'node-a', at(15), at(9))).toBe(true)
      expect(await store.leases.take('poll:1', 'node-b', at(20), at(14))).toBe(false)
      expect(await store.leases.take('poll:1', 'node-b', at(20), at(15))).toBe(true)
      await store.leases.release('poll:1', 'node-a')
      expect(await store.leases.take('poll:1', 'node-a', at(30), at(16))).toBe(false)
      await store.leases.release('poll:1', 'node-b')
      expect(await store.leases.take('poll:1', 'node-a', at(30), at(16))).toBe(true)
    })
  })

  describe('nodes and invitations', () => {
    it('adds a node with its certificate recorded as issued, lists and finds it', async () => {
      const added = await store.nodes.add(node_('node-1', 1), at(1))
      const expected = {
        id: expect.any(Number), name: 'node-1', hostnames: ['node-1.example', '10.0.0.1'], certSerial: certificate(1).serial, certSha256: certificate(1).sha256,
        previousCertSha256: null, heartbeatAddress: null, joinedAt: iso(1), lastSeenAt: null, removedAt: null,
      }
      expect(added).toEqual({node: expected})
      expect(await store.certificates.isIssued(certificate(1).sha256)).toBe(true)
      expect(await store.certificates.pem(certificate(1).sha256)).toBe(certificate(1).pem)
      expect(await store.nodes.get('node-1')).toEqual(expected)
      expect(await store.nodes.get('node-2')).toBeUndefined()
      await store.nodes.add(node_('node-0', 2), at(2))
      expect((await store.nodes.list()).map((n) => n.name)).toEqual(['node-1', 'node-0'])
      expect(await store.nodes.add(node_('node-1', 3), at(3))).toEqual({refused: 'name-taken'})
      expect(await store.certificates.isIssued(certificate(3).sha256)).toBe(false)
    })

    it('adds a node by an invitation only while it is unused and unexpired, consuming it in the same step', async () => {
      await store.invitations.create(invitation(1))
      await store.invitations.create(invitation(2, {expiresAt: iso(60)}))
      expect(await store.invitations.check(invitation(1).secretSha256, at(1))).toEqual({invitation: invitation(1)})
      expect(await store.invitations.check('f'.repeat(64), at(1))).toEqual({refused: 'unknown'})
      expect(await store.nodes.add(node_('node-2', 2), at(5), {invitation: 'f'.repeat(64)})).toEqual({refused: 'unknown'})
      expect(await store.nodes.add(node_('node-2', 2), at(5), {invitation: invitation(1).secretSha256})).toMatchObject({node: {name: 'node-2'}})
      expect(await store.invitations.check(invitation(1).secretSha256, at(6))).toEqual({refused: 'used'})
      expect(await store.nodes.add(node_('node-3', 3), at(6), {invitation: invitation(1).secretSha256})).toEqual({refused: 'used'})
      // Expired at exactly expiresAt.
      expect(await store.invitations.check(invitation(2).secretSha256, at(59))).toMatchObject({invitation: {id: 'inv2'}})
      expect(await store.nodes.add(node_('node-3', 3), at(60), {invitation: invitation(2).secretSha256})).toEqual({refused: 'expired'})
      expect(await store.certificates.isIssued(certificate(3).sha256)).toBe(false)
      // A taken name does not use up the invitation.
      await store.invitations.create(invitation(3))
      expect(await store.nodes.add(node_('node-2', 4), at(7), {invitation: invitation(3).secretSha256})).toEqual({refused: 'name-taken'})
      expect(await store.invitations.check(invitation(3).secretSha256, at(7))).toMatchObject({invitation: {usedAt: null}})
      expect((await store.invitations.list()).map((i) => [i.id, i.usedAt, i.usedBy])).toEqual([['inv1', iso(5), 'node-2'], ['inv2', null, null], ['inv3', null, null]])
    })

    it('records where a running node listens, and its renewed certificate with the previous one kept', async () => {
      await store.nodes.add(node_('node-1', 1), at())
      await store.nodes.seen('node-1', 'node-1.example:4120', at(5))
      await store.nodes.seen('node-9', 'elsewhere:4120', at(5))
      expect(await store.nodes.get('node-1')).toMatchObject({heartbeatAddress: 'node-1.example:4120', lastSeenAt: iso(5)})
      await store.nodes.renewCertificate('node-1', certificate(2), at(6))
      expect(await store.nodes.get('node-1')).toMatchObject({certSerial: certificate(2).serial, certSha256: certificate(2).sha256, previousCertSha256: certificate(1).sha256})
      expect(await store.certificates.isIssued(certificate(2).sha256)).toBe(true)
      expect(await store.nodes.list()).toHaveLength(1)
    })

    it('removes a node: its certificates revoked (one CRL number each) and its address gone, in one step; its name may join again', async () => {
      await store.nodes.add(node_('node-1', 1), at())
      await store.nodes.add(node_('node-2', 2), at())
      await store.nodes.renewCertificate('node-2', certificate(3), at(1))
      await store.nodes.seen('node-2', 'node-2.example:4120', at(2))
      const before = await store.certificates.revocationVersion()
      const removed = await store.nodes.remove('node-2', at(3))
      expect(removed).toMatchObject({revoked: 2, node: {name: 'node-2', removedAt: iso(3), heartbeatAddress: null}})
      expect(await store.certificates.revocationVersion()).toBe(before + 2)
      expect((await store.certificates.revoked()).map((r) => [r.sha256, r.reason]).sort()).toEqual([[certificate(2).sha256, 'cessationOfOperation'], [certificate(3).sha256, 'cessationOfOperation']].sort())
      expect(await store.certificates.isRevoked(certificate(1).sha256)).toBe(false)
      expect(await store.nodes.remove('node-2', at(4))).toBeUndefined()
      expect(await store.nodes.remove('nobody', at(4))).toBeUndefined()
      // A removed node says nothing any more.
      await store.nodes.seen('node-2', 'back:4120', at(5))
      expect((await store.nodes.get('node-2'))?.heartbeatAddress).toBeNull()
      expect(await store.nodes.add(node_('node-2', 4), at(6))).toMatchObject({node: {name: 'node-2', removedAt: null, certSha256: certificate(4).sha256}})
      expect((await store.nodes.list()).map((n) => n.name)).toEqual(['node-1', 'node-2'])
    })
  })

  describe('registry copy', () => {
    /** A registry with a row in every table the interface can write. */
    async function populate(target: ManagerStore): Promise<void> {
      await target.meta.create({manager_guid: 'G-1', tenant_id: 'T-1', created_at: iso()})
      await target.settings.set('heartbeatIntervalSeconds', '60', at())
      await target.policies.save(policy('web', {firewall: {enabled: true}, list: [1, 'two']}))
      const one = await activated(target, 1, {policy: 'web', address: '10.0.0.1:4118', hostInfo: {hostname: 'host-1', nested: {b: 2, a: 1}}})
      const two = await activated(target, 2)
      await target.computers.beginDeactivation(two, at(1))
      await target.operations.queue(one, 'SetCommunication', {mode: 'agent-initiated'}, at(2))
      const failed = await target.operations.queue(one, 'GetAgentStatus', {}, at(2))
      await target.operations.finish(failed.id, {ok: false, result: 'cancelled: x', maxAttempts: 1}, at(3))
      await target.operations.claim(one, {holder: 'node-a', until: at(60)}, at(3))
      await target.events.store(one, {instance: 'db', events: [{id: 7, at: iso(4), type: 'tick', detail: {n: 1, deep: {z: null}}}]}, at(5))
      await target.certificates.record(certificate(9), at())
      await target.certificates.revoke(certificate(9).sha256, 'keyCompromise', at(6))
      await target.crls.publish(crl(1))
      await target.tokens.create(token(1, {usesAllowed: 3, policy: 'web'}))
      await target.journal.record({...handshake(1), detail: '{"not": "json column"}'}, at(7))
      await target.nodes.add(node_('node-1', 11), at(8))
      await target.invitations.create(invitation(1))
      await target.leases.take('poll:1', 'node-a', at(60), at(8))
    }

    async function dumpAll(source: ManagerStore): Promise<Map<RegistryTable, RegistryRow[]>> {
      return new Map(await Promise.all(REGISTRY_TABLES.map(async (table) => [table, await source.registry.dump(table)] as const)))
    }

    it('is empty when new, and not once any table has a row', async () => {
      expect(await store.registry.isEmpty()).toBe(true)
      await store.leases.take('x', 'h', at(1), at())
      expect(await store.registry.isEmpty()).toBe(false)
    })

    for (const to of engines) {
      it(`copies every table into an empty ${to.name} registry with the same ids and checksums, and refuses a non-empty one`, async () => {
        await populate(store)
        const dumped = await dumpAll(store)
        for (const table of REGISTRY_TABLES) expect(dumped.get(table)!.length, table).toBeGreaterThan(0)
        const target = await to.open()
        try {
          await target.registry.load(dumped)
          const copied = await dumpAll(target)
          for (const table of REGISTRY_TABLES) expect(tableChecksum(table, copied.get(table)!), table).toEqual(tableChecksum(table, dumped.get(table)!))
          // Read back through the interface: the same computers, queue and events.
          expect(await target.computers.list()).toEqual(await store.computers.list())
          expect(await target.operations.list()).toEqual(await store.operations.list())
          expect(await target.events.list({})).toEqual(await store.events.list({}))
          expect(await target.certificates.revoked()).toEqual(await store.certificates.revoked())
          expect(await target.nodes.list()).toEqual(await store.nodes.list())
          // New rows get ids past the copied ones.
          const next = await activated(target, 5)
          expect(next).toBeGreaterThan(Math.max(...(await store.computers.list()).map((c) => c.id)))
          await expect(target.registry.load(dumped)).rejects.toThrow(/not empty/)
        } finally {
          await target.close()
        }
      })
    }

    it('gives the same checksum whatever the key order of a JSON value, and another for another value', () => {
      const rows = [{id: 2, v: {a: 1, b: [1, {d: 1, c: 2}]}}, {id: 1, v: null}]
      const same = [{id: 1, v: null}, {v: {b: [1, {c: 2, d: 1}], a: 1}, id: 2}]
      expect(tableChecksum('computers', rows)).toEqual(tableChecksum('computers', same))
      expect(tableChecksum('computers', rows).rows).toBe(2)
      expect(tableChecksum('computers', [{id: 1, v: null}, {id: 2, v: {a: 2, b: [1, {d: 1, c: 2}]}}]).sha256).not.toBe(tableChecksum('computers', rows).sha256)
    })
  })

  it('creates meta entries all together, or none when one of them exists', async () => {
    expect(await store.meta.create({manager_guid: 'G-1', tenant_id: 'T-1'})).toBe(true)
    expect(await store.meta.create({sealed_ca_key: 'x', tenant_id: 'T-2'})).toBe(false)
    expect(await store.meta.get('sealed_ca_key')).toBeUndefined()
    expect(await store.meta.get('tenant_id')).toBe('T-1')
    expect(await store.meta.create({sealed_ca_key: 'x'})).toBe(true)
    expect(await store.meta.get('sealed_ca_key')).toBe('x')
  })

  it('keeps settings as the JSON text given, replacing by name', async () => {
    expect(await store.settings.all()).toEqual(new Map())
    await store.settings.set('heartbeatIntervalSeconds', '60', at())
    await store.settings.set('listen', '{"port":  4120, "address" : "0.0.0.0"}', at())
    await store.settings.set('heartbeatIntervalSeconds', '30', at(1))
    expect(await store.settings.all()).toEqual(new Map([['heartbeatIntervalSeconds', '30'], ['listen', '{"port":  4120, "address" : "0.0.0.0"}']]))
  })

  it('keeps meta values and reads the identity from them', async () => {
    expect(await store.meta.identity()).toEqual({managerGuid: '', tenantId: '', createdAt: ''})
    expect(await store.meta.get('manager_guid')).toBeUndefined()
    await store.meta.set('manager_guid', 'G-1')
    await store.meta.set('tenant_id', 'T-1')
    await store.meta.set('created_at', iso())
    await store.meta.set('manager_guid', 'G-2')
    expect(await store.meta.identity()).toEqual({managerGuid: 'G-2', tenantId: 'T-1', createdAt: iso()})
    expect(await store.meta.get('tenant_id')).toBe('T-1')
  })

  describe('journal', () => {
    it('records entries and reads them since an id or a time, the limit keeping the newest', async () => {
      expect(await store.journal.lastId()).toBe(0)
      expect(await store.journal.read({})).toEqual([])
      await store.journal.record({tlsRole: 'client', httpRole: 'server', peerAddress: '127.0.0.1:5000', context: 'bootstrap', protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384',
        peerSha256: 'ab', peerSubject: 'CN=x', result: 'refused', reason: 'unknown-ca', detail: 'why'}, at(1))
      for (const n of [2, 3, 4]) await store.journal.record(handshake(n), at(n))
      const all = await store.journal.read({})
      expect(all[0]).toEqual({id: expect.any(Number), at: iso(1), tlsRole: 'client', httpRole: 'server', peerAddress: '127.0.0.1:5000', context: 'bootstrap', protocol: 'TLSv1.3',
        cipher: 'TLS_AES_256_GCM_SHA384', peerSha256: 'ab', peerSubject: 'CN=x', result: 'refused', reason: 'unknown-ca', detail: 'why'})
      expect(all[1]).toEqual({id: all[0].id + 1, at: iso(2), tlsRole: 'server', httpRole: 'server', peerAddress: null, context: 'mutual', protocol: null, cipher: null,
        peerSha256: null, peerSubject: null, result: 'accepted', reason: 'ok-2', detail: null})
      expect(all.map((row) => row.reason)).toEqual(['unknown-ca', 'ok-2', 'ok-3', 'ok-4'])
      expect(await store.journal.lastId()).toBe(all[3].id)
      expect((await store.journal.read({sinceId: all[1].id})).map((row) => row.reason)).toEqual(['ok-3', 'ok-4'])
      expect((await store.journal.read({since: iso(2)})).map((row) => row.reason)).toEqual(['ok-2', 'ok-3', 'ok-4'])
      expect((await store.journal.read({limit: 2})).map((row) => row.reason)).toEqual(['ok-3', 'ok-4'])
      expect(await store.journal.read({limit: -1})).toHaveLength(4)
      expect((await store.journal.read({sinceId: all[0].id, since: iso(3), limit: 1})).map((row) => row.reason)).toEqual(['ok-4'])
    })

    it(`stays bounded to ${JOURNAL_MAX_ENTRIES} entries, the oldest rolling off`, async () => {
      const total = JOURNAL_MAX_ENTRIES + 100
      // In chunks of concurrent records: each is atomic alone, and the bound must hold whatever the interleaving.
      for (let n = 1; n <= total; n += 50) await Promise.all(Array.from({length: Math.min(50, total - n + 1)}, (_, i) => store.journal.record(handshake(n + i), at())))
      const rows = await store.journal.read({limit: total})
      expect(rows).toHaveLength(JOURNAL_MAX_ENTRIES)
      expect(rows[0].id).toBe(101)
      expect(await store.journal.lastId()).toBe(total)
    }, 120_000)
  })

  it(`is the ${engine.name} engine at its latest schema version`, async () => {
    expect(store.engine).toBe(engine.name)
    expect(store.schemaVersion).toBe(engine.migrations)
    expect(store.location).not.toContain(postgres().password)
  })
})

// ---- the shared engine ----------------------------------------------------------------------------

async function failure(promise: Promise<unknown>): Promise<{code: string; failure: string; message: string; hint?: string}> {
  const error = await promise.then(() => undefined, (e: unknown) => e)
  if (!isTetherError(error)) throw new Error(`expected a TetherError, got ${String(error)}`)
  return {code: error.code, failure: error.failure, message: error.message, hint: error.hint}
}

/** A direct connection, for what the interface does not show: the migration record. */
async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

describe('the postgres store on its own', () => {
  it('opens by URL, says where it is without the password, and refuses what it cannot use clearly', async () => {
    const server = postgres()
    const url = await server.createDatabase()
    const store = await openManagerStore(url)
    expect(store.engine).toBe('postgres')
    expect(store.location).toBe(`postgres://${server.user}@127.0.0.1:${server.port}/${url.split('/').pop()}`)
    await store.close()
    const asPostgresql = await openManagerStore(url.replace('postgres://', 'postgresql://'))
    expect(asPostgresql.engine).toBe('postgres')
    await asPostgresql.close()

    const badPassword = await failure(openManagerStore(url.replace(server.password, 'wrong-password')))
    expect(badPassword).toMatchObject({code: 'database-auth-failed', failure: 'refused', hint: expect.stringContaining('password')})
    expect(badPassword.message).not.toContain('wrong-password')
    expect(badPassword.message).toContain(`127.0.0.1:${server.port}`)

    const missing = await failure(openManagerStore(server.url('no_such_database')))
    expect(missing).toMatchObject({code: 'database-missing', failure: 'notFound', hint: expect.stringContaining('createdb')})
    expect(missing.message).toContain('no_such_database')
    expect(missing.message).not.toContain(server.password)

    // A port just freed: nothing listens there.
    const closedPort = await failure(openManagerStore(url.replace(`:${server.port}/`, `:${await freePort()}/`)))
    expect(closedPort).toMatchObject({code: 'database-unreachable', failure: 'unreachable', hint: expect.stringContaining('start the PostgreSQL server')})
    expect(closedPort.message).not.toContain(server.password)

    const badUrl = await failure(openManagerStore(`postgres://${server.user}:${server.password}@127.0.0.1:99999999/x`))
    expect(badUrl).toMatchObject({code: 'bad-database-url', failure: 'usage'})
    expect(badUrl.message).not.toContain(server.password)
  })

  it('opens a SQLite file for any other location, and pg is not loaded for it', async () => {
    const file = path.join(tempDir('tether-store-'), 'manager.db')
    await (await SqliteManagerStore.open(file, {create: true})).close()
    const store = await openManagerStore(file)
    expect([store.engine, store.location]).toEqual(['sqlite', file])
    await store.close()
    expect(await failure(openManagerStore(`${file}.missing`))).toMatchObject({code: 'database-missing'})
    // A process of its own, so nothing this file loaded counts.
    const script = `
      import {createRequire} from 'node:module'
      const loaded = () => Object.keys(createRequire(process.cwd() + '/').cache).filter((m) => m.includes('/node_modules/pg')).length
      const {openManagerStore} = await import('./dist/manager/store/open.js')
      const store = await openManagerStore(${JSON.stringify(file)})
      console.log(JSON.stringify({engine: store.engine, pg: loaded()}))
      await store.close()`
    expect(JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], {cwd: ROOT, encoding: 'utf8'}))).toEqual({engine: 'sqlite', pg: 0})
  })

  it('refuses a database whose schema is newer than this code, changing nothing', async () => {
    const url = await postgres().createDatabase()
    await (await PostgresManagerStore.open(url)).close()
    const newer = POSTGRES_MIGRATIONS.length + 1
    await withClient(url, (client) => client.query('INSERT INTO tether_migrations (version, applied_at) VALUES ($1, $2)', [newer, iso()]))
    const refused = await failure(PostgresManagerStore.open(url))
    expect(refused).toMatchObject({code: 'schema-too-new', failure: 'refused', hint: expect.stringContaining('upgrade tether')})
    expect(refused.message).toContain(`schema version ${newer}, newer than this tether supports (${POSTGRES_MIGRATIONS.length})`)
    expect(await withClient(url, async (client) => (await client.query('SELECT max(version) AS v FROM tether_migrations')).rows[0].v)).toBe(newer)
  })

  it('refuses a database that holds tables of something else, and leaves it as it was', async () => {
    const url = await postgres().createDatabase()
    await withClient(url, (client) => client.query('CREATE TABLE computers (name TEXT)'))
    const refused = await failure(PostgresManagerStore.open(url))
    expect(refused).toMatchObject({code: 'migration-failed', failure: 'internal', hint: expect.stringContaining('database of its own')})
    expect(refused.message).toContain('schema version 1')
    expect(await withClient(url, async (client) => (await client.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('meta', 'tether_migrations')")).rows[0].n)).toBe(0)
  })

  it('fails an operation whose server goes away mid-transaction as unreachable, and the process carries on', async () => {
    // A server of its own: this one is stopped under an open transaction.
    const server = await startPostgres()
    const db = await Postgres.open(await server.createDatabase(), {what: 'the test database', migrations: []})
    try {
      const lost = await failure(db.transaction(async (sql) => {
        await sql.run('SELECT 1')
        await server.stop()
        await new Promise((resolve) => setTimeout(resolve, 200))
        await sql.run('SELECT 1')
      }))
      expect(lost).toMatchObject({code: 'database-unreachable', failure: 'unreachable'})
      expect(lost.message).not.toContain(server.password)
      expect(await failure(db.queries.get('SELECT 1'))).toMatchObject({code: 'database-unreachable'})
    } finally {
      await db.close()
    }
  })

  describe('two nodes on one database (two stores, two pools)', () => {
    let nodes: [ManagerStore, ManagerStore]
    let url: string
    beforeEach(async () => {
      url = await postgres().createDatabase()
      nodes = [await PostgresManagerStore.open(url), await PostgresManagerStore.open(url)]
    })
    afterEach(async () => {
      await Promise.all(nodes.map((node) => node.close()))
    })

    /** `count` calls of `call`, alternating between the nodes, all at once. */
    const race = <T>(count: number, call: (node: ManagerStore, i: number) => Promise<T>) => Promise.all(Array.from({length: count}, (_, i) => call(nodes[i % 2], i)))

    it('queues exactly one Deactivate when 20 begin the same deactivation at once', async () => {
      const id = await activated(nodes[0], 1)
      await race(20, (node, i) => node.computers.beginDeactivation(id, at(i)))
      expect((await nodes[1].operations.queued(id)).map((op) => op.command)).toEqual(['Deactivate'])
    })

    it('queues exactly one configuration when 20 assign a policy at once', async () => {
      const id = await activated(nodes[0], 1)
      await race(20, (node, i) => node.computers.assignPolicy(id, `policy-${i}`, at(i)))
      expect((await nodes[1].operations.queued(id)).map((op) => op.command)).toEqual(['SetSecurityConfiguration'])
    })

    it('gives concurrent revocations consecutive CRL numbers, and revokes one certificate once', async () => {
      for (let n = 1; n <= 21; n++) await nodes[0].certificates.record(certificate(n), at())
      expect(await race(20, (node, i) => node.certificates.revoke(certificate(i + 1).sha256, 'superseded', at(i)))).toEqual(Array(20).fill(true))
      expect(await nodes[1].certificates.revocationVersion()).toBe(20)
      const same = await race(10, (node) => node.certificates.revoke(certificate(21).sha256, 'keyCompromise', at(30)))
      expect(same.filter(Boolean)).toHaveLength(1)
      expect(await nodes[0].certificates.revocationVersion()).toBe(21)
      expect(await nodes[0].certificates.revoked()).toHaveLength(21)
    })

    it('creates a policy once when 10 save it at once, and numbers concurrent replacements without a gap', async () => {
      const created = await race(10, (node, i) => node.policies.save(policy('web', {i})))
      expect(created.filter((saved) => !saved.existed)).toHaveLength(1)
      expect(new Set(created.map((saved) => saved.policy.id)).size).toBe(1)
      const replaced = await race(10, (node, i) => node.policies.save(policy('web', {i}, {replace: true})))
      expect(replaced.map((saved) => saved.policy.version).sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
      expect((await nodes[1].policies.find('web'))?.version).toBe(11)
    })

    it('records concurrent activations of one GUID as one computer', async () => {
      for (let n = 1; n <= 10; n++) await nodes[0].certificates.record(certificate(n), at())
      const computers = await race(10, (node, i) => node.computers.recordActivation(activation(1, {certSerial: certificate(i + 1).serial, certSha256: certificate(i + 1).sha256}), at(i)))
      expect(new Set(computers.map((computer) => computer.id)).size).toBe(1)
      expect(await nodes[1].computers.count()).toBe(1)
    })

    it('stores a batch delivered to both nodes at once only once', async () => {
      const id = await activated(nodes[0], 1)
      const batch = {instance: 'db', events: Array.from({length: 50}, (_, n) => ({id: n, at: iso(n), type: 'tick', detail: {n}}))}
      const added = await race(6, (node) => node.events.store(id, batch, at()))
      expect(added.reduce((sum, n) => sum + n, 0)).toBe(50)
      expect(await nodes[1].events.list({})).toHaveLength(50)
    })

    it('reserves a name for exactly one of 20 claiming it at once with unique', async () => {
      const reserved = await race(20, (node, i) => node.computers.reserve(claim(i + 1, 'web', true), at()))
      expect(reserved.filter(Boolean)).toHaveLength(1)
      const winner = activation(reserved.indexOf(true) + 1).guid
      expect((await nodes[1].computers.byHostname('web')).map((computer) => [computer.guid, computer.state])).toEqual([[winner, 'activating']])
    })

    it('counts exactly usesAllowed uses when 10 use one token at once, the rest used up', async () => {
      await nodes[0].tokens.create(token(1, {usesAllowed: 3}))
      const results = await race(10, (node, i) => node.tokens.use(token(1).secretSha256, at(i)))
      const granted = results.flatMap((result) => ('token' in result ? [result.token.uses] : []))
      expect(granted.sort()).toEqual([1, 2, 3])
      expect(results.filter((result) => 'refused' in result && result.refused === 'used-up')).toHaveLength(7)
      expect((await nodes[1].tokens.list())[0].uses).toBe(3)
    })

    it('claims each queued operation for exactly one of 20 contacts claiming at once', async () => {
      const id = await activated(nodes[0], 1)
      const queued = await Promise.all(Array.from({length: 10}, (_, n) => nodes[0].operations.queue(id, 'SetCommunication', {n}, at())))
      const claimed = await race(20, (node, i) => node.operations.claim(id, {holder: `contact-${i}`, until: at(60)}, at(1)))
      const ids = claimed.flatMap((ops) => ops.map((op) => op.id))
      expect(ids.sort((a, b) => a - b)).toEqual(queued.map((op) => op.id).sort((a, b) => a - b))
      // And after the claims run out (their holders died), one contact takes them all again.
      const again = await race(20, (node, i) => node.operations.claim(id, {holder: `later-${i}`, until: at(200)}, at(60)))
      expect(again.flatMap((ops) => ops.map((op) => op.id)).sort((a, b) => a - b)).toEqual(queued.map((op) => op.id).sort((a, b) => a - b))
    })

    it('gives a lease to exactly one of 20 nodes taking it at once', async () => {
      const taken = await race(20, (node, i) => node.leases.take('poll:1', `node-${i}`, at(60), at()))
      expect(taken.filter(Boolean)).toHaveLength(1)
      const later = await race(20, (node, i) => node.leases.take('poll:1', `later-${i}`, at(120), at(60)))
      expect(later.filter(Boolean)).toHaveLength(1)
    })

    it('adds one node when 10 join with one invitation at once, and one when 10 join under one name', async () => {
      await nodes[0].invitations.create(invitation(1))
      const joined = await race(10, (node, i) => node.nodes.add(node_(`node-${i}`, i + 1), at(1), {invitation: invitation(1).secretSha256}))
      expect(joined.filter((result) => 'node' in result)).toHaveLength(1)
      expect(joined.filter((result) => 'refused' in result && result.refused === 'used')).toHaveLength(9)
      const named = await race(10, (node, i) => node.nodes.add(node_('same', i + 20), at(2)))
      expect(named.filter((result) => 'node' in result)).toHaveLength(1)
      expect(await nodes[1].nodes.list()).toHaveLength(2)
      // Only the winners' certificates are recorded: a refused join leaves nothing behind.
      const issued = await Promise.all(Array.from({length: 30}, (_, i) => nodes[1].certificates.isIssued(certificate(i + 1).sha256)))
      expect(issued.filter(Boolean)).toHaveLength(2)
    })

    it('writes the installation entries once when two nodes create them at once', async () => {
      const created = await race(10, (node, i) => node.meta.create({manager_guid: `G-${i}`, tenant_id: `T-${i}`}))
      expect(created.filter(Boolean)).toHaveLength(1)
      const winner = created.indexOf(true)
      expect(await nodes[1].meta.identity()).toMatchObject({managerGuid: `G-${winner}`, tenantId: `T-${winner}`})
    })

    it('stores one CRL when both nodes publish the same number at once', async () => {
      for (let round = 1; round <= 5; round++) {
        const [a, b] = await Promise.all(nodes.map((node, i) => node.crls.publish(crl(round, {pem: `node-${i}`}))))
        expect([a, b].filter(Boolean)).toHaveLength(1)
        expect(await nodes[round % 2].crls.latest()).toEqual(crl(round, {pem: a ? 'node-0' : 'node-1'}))
      }
    })
  })

  it('migrates an empty database once when two nodes open it at the same moment', async () => {
    const url = await postgres().createDatabase()
    const stores = await Promise.all([PostgresManagerStore.open(url), PostgresManagerStore.open(url), PostgresManagerStore.open(url)])
    expect(stores.map((store) => store.schemaVersion)).toEqual(Array(3).fill(POSTGRES_MIGRATIONS.length))
    await Promise.all(stores.map((store) => store.close()))
    const versions = await withClient(url, async (client) => (await client.query('SELECT version FROM tether_migrations ORDER BY version')).rows.map((row) => row.version))
    expect(versions).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1))
  })
})

describe('the sqlite registry across releases', () => {
  const kept = ['agentInitiatedActivation', 'duplicateNamePolicy']

  it('upgrades a registry made by the previous release to its own defaults, stored explicitly', async () => {
    const file = path.join(tempDir('tether-store-'), 'tether.db')
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'previous-release', 'manager', 'tether.db'), file)
    const store = await SqliteManagerStore.open(file)
    try {
      expect(store.schemaVersion).toBe(SQLITE_MIGRATIONS.length)
      expect((await store.meta.identity()).managerGuid).toMatch(/^[0-9A-F-]{36}$/)
      const settings = await store.settings.all()
      expect(kept.map((name) => settings.get(name))).toEqual(['"any"', '"reactivate"'])
    } finally {
      await store.close()
    }

    // Once: a setting changed after the upgrade stays changed when the registry is opened again.
    const again = await SqliteManagerStore.open(file)
    try {
      await again.settings.set('duplicateNamePolicy', '"new"', at())
    } finally {
      await again.close()
    }

    const third = await SqliteManagerStore.open(file)
    try {
      expect((await third.settings.all()).get('duplicateNamePolicy')).toBe('"new"')
    } finally {
      await third.close()
    }
  })

  it('stores neither for a new registry: the new defaults apply', async () => {
    const file = path.join(tempDir('tether-store-'), 'tether.db')
    const store = await SqliteManagerStore.open(file, {create: true})
    try {
      store.seed({managerGuid: 'G-1', tenantId: 'T-1', createdAt: iso()})
      expect(await store.meta.identity()).toEqual({managerGuid: 'G-1', tenantId: 'T-1', createdAt: iso()})
      expect(await store.settings.all()).toEqual(new Map())
    } finally {
      await store.close()
    }

    const reopened = await SqliteManagerStore.open(file)
    try {
      expect(reopened.schemaVersion).toBe(SQLITE_MIGRATIONS.length)
      const settings = await reopened.settings.all()
      expect(kept.filter((name) => settings.has(name))).toEqual([])
    } finally {
      await reopened.close()
    }
  })
})
