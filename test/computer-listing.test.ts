import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {ChunkedOutput} from '../src/cli/chunked-output.js'
import {printListing} from '../src/cli/computer-listing-output.js'
import {printable} from '../src/cli/render.js'
import {listComputers, listingView} from '../src/manager/computer-listing.js'
import {viewComputer} from '../src/manager/computers.js'
import {configurationStateWith} from '../src/manager/policies.js'
import {getSettings} from '../src/manager/settings.js'
import {openManagerStore} from '../src/manager/store/open.js'
import {SqliteManagerStore} from '../src/manager/store/sqlite.js'
import type {ActivationRecord, ManagerStore} from '../src/manager/store/store.js'
import {tempDir} from './helpers.js'
import {usePostgres} from './postgres.js'

// `computers list` prints from the listed parts, never from the merged view: its --json must be
// byte for byte what JSON.stringify printed of the views (today's document), for every kind of
// computer, on both engines.

const postgres = usePostgres()

const DAY = 86_400_000
const NOW = new Date(Date.UTC(2027, 5, 1, 12, 0, 0))
const ago = (ms: number) => new Date(NOW.getTime() - ms)
const isoAgo = (ms: number) => ago(ms).toISOString()

/** Names an agent might report: quotes, backslashes, control characters, line ends, non-ASCII, an emoji, a lone surrogate. */
const ODD = ['plain', 'with "quotes"', 'back\\slash', 'line\nend\r\n', 'tab\there', '\u0001\u001F\u007F\u0080\u009F', 'é ü ß', '😀 emoji', 'lone \uD800 surrogate', '\u2028\u2029 separators', '</script>', '']

interface Fixture {
  name: string
  activation?: Partial<ActivationRecord>
  /** When it was activated (and last seen): ms before NOW. */
  seen?: number
  /** The certificate's validity, ms from NOW. */
  validity?: [number, number]
  then?: (store: ManagerStore, id: number) => Promise<void>
}

const FIXTURES: Fixture[] = [
  {name: 'online, certificate ok', seen: 60_000, validity: [-10 * DAY, 355 * DAY]},
  {name: 'offline', seen: 3 * 3600_000, validity: [-10 * DAY, 355 * DAY]},
  {name: 'renewal requested', seen: 1000, validity: [-10 * DAY, 355 * DAY], then: async (store, id) => void (await store.computers.requestRenewal([id]))},
  {name: 'renewing', seen: 1000, validity: [-300 * DAY, 65 * DAY], then: async (store, id) => void (await store.computers.beginRenewal(id, 'F'.repeat(64), {current: (await store.computers.get(id))!.certSha256, renewal: null}))},
  {name: 'overdue', seen: 1000, validity: [-300 * DAY, 65 * DAY]},
  {name: 'expiring', seen: 1000, validity: [-360 * DAY, 5 * DAY]},
  {name: 'expired within the grace', seen: 2 * DAY, validity: [-400 * DAY, -DAY]},
  {name: 'expired beyond the grace', seen: 200 * DAY, validity: [-600 * DAY, -180 * DAY]},
  {name: 'no validity known', seen: 1000, activation: {certNotBefore: undefined, certNotAfter: undefined}},
  {
    name: 'described, grouped, overrides, every odd name',
    seen: 1000,
    validity: [-10 * DAY, 355 * DAY],
    activation: {displayName: ODD.join('|'), description: ODD.slice().reverse().join(''), group: 'grüppe "1"', address: '10.0.0.9:4118', mode: 'manager-initiated'},
    then: async (store, id) => store.computers.setCommunication(id, {heartbeatIntervalSeconds: 30, missedHeartbeats: 5}),
  },
  ...ODD.map((text, i): Fixture => ({name: `hostname ${i}`, seen: i * 600_000, validity: [-10 * DAY, 355 * DAY], activation: {hostname: `h${i} ${text}`, mode: i % 2 ? 'agent-initiated' : 'bidirectional'}})),
  {
    name: 'host information of every JSON kind',
    seen: 1000,
    validity: [-10 * DAY, 355 * DAY],
    activation: {
      hostInfo: JSON.parse('{"__proto__": {"x": 1}, "2": "two", "1": "one", "nested": {"list": [1, -2.5, 1e21, 0.1, true, false, null, [], {}, [[]], {"a": {"b": [{"c": "d"}]}}], "empty": {}, "none": []}, "odd key \\"\\n": "\\u0001\\u001f", "é": "ü"}'),
    },
  },
  {name: 'policy assigned, configuration applied', seen: 1000, validity: [-10 * DAY, 355 * DAY], then: async (store, id) => applyPolicy(store, id, 'base', true)},
  {name: 'policy assigned, configuration old', seen: 1000, validity: [-10 * DAY, 355 * DAY], then: async (store, id) => applyPolicy(store, id, 'other', false)},
  {name: 'policy assigned that does not exist', seen: 1000, validity: [-10 * DAY, 355 * DAY], then: async (store, id) => store.computers.assignPolicy(id, 'gone "policy"', NOW)},
  {name: 'no policy, a configuration applied', seen: 1000, validity: [-10 * DAY, 355 * DAY], then: async (store, id) => store.computers.recordAppliedConfiguration(id, {policy: 'old', version: 3, sha256: 'A'.repeat(64)})},
  {name: 'reactivation required', seen: 1000, validity: [-10 * DAY, 355 * DAY], then: async (store, id) => store.computers.markReactivationRequired(id)},
  {name: 'deactivation pending', seen: 1000, validity: [-10 * DAY, 355 * DAY], then: async (store, id) => store.computers.beginDeactivation(id, NOW)},
  {
    name: 'deactivated',
    seen: 1000,
    validity: [-10 * DAY, 355 * DAY],
    then: async (store, id) => {
      await store.computers.beginDeactivation(id, NOW)
      await store.computers.finishDeactivation(id, {remove: false, at: NOW})
    },
  },
]

async function applyPolicy(store: ManagerStore, id: number, name: string, applied: boolean): Promise<void> {
  const {policy} = await store.policies.save({name, document: {firewall: {enabled: true}}, replace: true, at: NOW, sha256: (version) => `sha-${name}-${version}`})
  await store.computers.assignPolicy(id, name, NOW)
  await store.computers.recordAppliedConfiguration(id, applied ? {policy: name, version: policy.version, sha256: policy.sha256} : {policy: name, version: 0, sha256: 'B'.repeat(64)})
}

/** Every fixture, then a computer still activating (never seen, no certificate); the ids in order. */
async function fill(store: ManagerStore): Promise<void> {
  for (const [n, fixture] of FIXTURES.entries()) {
    const guid = `${String(n).padStart(8, '0')}-AAAA-4BBB-8CCC-DDDDDDDDDDDD`
    const sha256 = String(n).padStart(64, 'c')
    const at = ago(fixture.seen ?? 0)
    const [from, to] = fixture.validity ?? [0, 0]
    await store.certificates.record({serial: `0${n}`.padStart(8, '0'), sha256, subject: `CN=${guid}`, notBefore: new Date(NOW.getTime() + from).toISOString(), notAfter: new Date(NOW.getTime() + to).toISOString(), pem: 'synthetic'}, at)
    const record: ActivationRecord = {
      guid,
      hostname: `host-${n}`,
      mode: 'bidirectional',
      hostInfo: {hostname: `host-${n}`, platform: 'linux', clock: at.toISOString()},
      certSerial: `0${n}`.padStart(8, '0'),
      certSha256: sha256,
      certNotBefore: fixture.validity && new Date(NOW.getTime() + from).toISOString(),
      certNotAfter: fixture.validity && new Date(NOW.getTime() + to).toISOString(),
      ...fixture.activation,
    }
    const {id} = await store.computers.recordActivation(record, at)
    await fixture.then?.(store, id)
  }

  expect(await store.computers.reserve({guid: 'FFFFFFFF-AAAA-4BBB-8CCC-DDDDDDDDDDDD', hostname: 'still activating', unique: false, staleAfterMs: DAY}, ago(1000))).toBe(true)
}

/** What `computers list --json` printed before it printed from parts: JSON.stringify of each computer's view. */
async function viewsDocument(store: ManagerStore): Promise<string> {
  const settings = await getSettings(store)
  const views = []
  for (const computer of await store.computers.list()) {
    const policy = computer.policy ? await store.policies.find(computer.policy) : undefined
    views.push({...viewComputer(computer, settings, NOW), configuration: configurationStateWith(computer, policy)})
  }

  return `${JSON.stringify({computers: views}, null, 2)}\n`
}

async function printed(store: ManagerStore, json: boolean, chunkBytes?: number): Promise<string> {
  const writes: Buffer[] = []
  await printListing(listComputers(store, NOW), new ChunkedOutput((bytes) => writes.push(bytes), chunkBytes), {json})
  return Buffer.concat(writes).toString()
}

const engines = [
  {name: 'sqlite', open: async () => SqliteManagerStore.open(path.join(tempDir('tether-listing-'), 'manager.db'), {create: true})},
  {name: 'postgres', open: async () => openManagerStore(await postgres().createDatabase())},
]

describe.each(engines)('computers list on $name', (engine) => {
  it('--json is byte for byte JSON.stringify of the views, for every state, standing, presence and odd name', async () => {
    const store = await engine.open()
    try {
      await fill(store)
      const expected = await viewsDocument(store)
      const document = JSON.parse(expected)
      // The fixtures cover what they say they cover.
      expect(new Set(document.computers.map((c: {state: string}) => c.state))).toEqual(new Set(['activating', 'activated', 'deactivation-pending', 'reactivation-required', 'deactivated']))
      expect(new Set(document.computers.map((c: {presence: string}) => c.presence))).toEqual(new Set(['online', 'offline', 'unknown']))
      expect(new Set(document.computers.map((c: {certificate: {standing: string} | null}) => c.certificate?.standing ?? null))).toEqual(new Set(['ok', 'renewal-due', 'renewing', 'overdue', 'expiring', 'expired', 'beyond-grace', null]))
      expect(new Set(document.computers.map((c: {configuration: {upToDate: boolean; desiredVersion: number | null; assigned: string | null}}) => `${c.configuration.assigned !== null}/${c.configuration.desiredVersion !== null}/${c.configuration.upToDate}`))).toEqual(new Set(['true/true/true', 'true/true/false', 'true/false/true', 'false/false/false', 'false/false/true']))
      expect(expected).toContain(String.raw`"odd key \"\n": "\u0001\u001f"`)
      for (const chunkBytes of [1, 700, undefined]) expect(await printed(store, true, chunkBytes)).toBe(expected)
    } finally {
      await store.close()
    }
  })

  it('the text listing has one line per computer, from the same parts', async () => {
    const store = await engine.open()
    try {
      await fill(store)
      const lines = (await printed(store, false)).split('\n')
      expect(lines.pop()).toBe('')
      const views = JSON.parse(await viewsDocument(store)).computers
      expect(lines).toHaveLength(views.length)
      for (const [i, view] of views.entries()) {
        expect(lines[i].startsWith(`${String(view.id).padStart(4)}  ${view.state.padEnd(12)} ${view.presence.padEnd(8)} ${view.configuration.upToDate ? 'config ok ' : 'config old'}`), lines[i]).toBe(true)
        expect(lines[i]).toContain(` ${printable(view.hostname)}`)
        expect(lines[i]).toContain(`last seen ${view.lastSeenAt ?? 'never'}`)
      }
    } finally {
      await store.close()
    }
  })

  it('an empty registry: an empty array, and "No computers"', async () => {
    const store = await engine.open()
    try {
      expect(await printed(store, true)).toBe(`${JSON.stringify({computers: []}, null, 2)}\n`)
      expect(await printed(store, false)).toBe('No computers\n')
    } finally {
      await store.close()
    }
  })
})

describe('listingView', () => {
  it('is the view the parts stand for', async () => {
    const store = await engines[0].open()
    try {
      await fill(store)
      const settings = await getSettings(store)
      for await (const page of listComputers(store, NOW)) {
        for (const listed of page) expect(listingView(listed)).toEqual({...viewComputer(listed.computer, settings, NOW), configuration: listed.configuration})
      }
    } finally {
      await store.close()
    }
  })
})
