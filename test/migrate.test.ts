import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {tableChecksum} from '../src/manager/store/registry-copy.js'
import {PostgresManagerStore} from '../src/manager/store/postgres.js'
import {SqliteManagerStore} from '../src/manager/store/sqlite.js'
import {REGISTRY_TABLES} from '../src/manager/store/store.js'
import {agent, newDsaCore, startManager} from './agents.js'
import {CliResult, eventually, initManager, json, run, snapshot, tempDir, tether} from './helpers.js'
import {usePostgres} from './postgres.js'
import {withStore} from './stores.js'

// An embedded home: one running manager per home; and its move to PostgreSQL with agents of every
// kind in its registry, which go on working against the node it becomes.

const postgres = usePostgres()

const dsaControl = (dsaCore: string, args: string[]): Promise<CliResult> => run('dsa_control', args, {TETHER_DSA_CORE: dsaCore})

function ok(result: CliResult, what: string): CliResult {
  expect(result.exitCode, `${what}: ${result.stdout}\n${result.stderr}`).toBe(0)
  return result
}

describe('manager start on an embedded home', () => {
  it('refuses a second start on the same home with the PID of the running one; the address agents are told stays the first one\'s', async () => {
    const {home, env} = await initManager(tempDir())
    const first = await startManager(home)
    try {
      const told = await withStore(home, (store) => store.meta.get('listening_address'))
      expect(told).toBe(`127.0.0.1:${first.port}`)
      const second = await tether(['manager', 'start', '--port', '0', '--json'], env)
      expect(second.exitCode).toBe(4)
      expect(json(second).error).toMatchObject({code: 'manager-running', message: `a manager is already running on the home ${home} (process ${first.child.pid})`})
      expect(await withStore(home, (store) => store.meta.get('listening_address'))).toBe(told)
    } finally {
      first.child.kill('SIGKILL')
      await first.child
    }

    // A killed manager holds nothing: the next one starts.
    const again = await startManager(home)
    await again.stop()
  })
})

describe('tether manager migrate --to postgres://', () => {
  it('copies a populated embedded registry with the same identities, verified per table; agents of every kind go on with the node it becomes', async () => {
    const {home, env} = await initManager(tempDir())
    for (const [name, value] of [['heartbeatIntervalSeconds', '1'], ['nodeLeaseSeconds', '2']]) ok(await tether(['manager', 'settings', 'set', name, value], env), name)
    let manager = await startManager(home)
    const url = `dsm://127.0.0.1:${manager.port}/`
    // Manager-initiated activation of a running agent (bidirectional: it heartbeats every second).
    const heartbeating = await agent(newDsaCore(), {hostname: 'heartbeating.test'})
    ok(await tether(['manager', 'activate', heartbeating.address], env), 'activate')
    // A computer polled by the manager (manager-initiated mode).
    const polled = await agent(newDsaCore(), {hostname: 'polled.test'})
    ok(await tether(['manager', 'activate', polled.address], env), 'activate')
    ok(await tether(['manager', 'computers', 'set', 'polled.test', '--mode', 'manager-initiated'], env), 'computers set')
    // Agent-initiated activation, no daemon; a policy delivered; an operation left queued for it.
    const idle = newDsaCore()
    ok(await dsaControl(idle, ['-a', url, 'hostname:idle.test']), 'dsa_control -a')
    const policy = path.join(tempDir(), 'web.json')
    fs.writeFileSync(policy, '{"firewall": {"enabled": true}}')
    ok(await tether(['manager', 'policies', 'create', 'web', '--file', policy], env), 'policies create')
    ok(await tether(['manager', 'policies', 'assign', 'web', 'idle.test'], env), 'policies assign')
    ok(await dsaControl(idle, ['-m']), 'dsa_control -m')
    ok(await tether(['manager', 'computers', 'set', 'idle.test', '--heartbeat-interval', '9'], env), 'computers set')
    // A deactivated computer (a revocation and a published CRL), enrolment tokens, a bound agent waiting.
    const gone = await agent(newDsaCore(), {hostname: 'gone.test'})
    const goneId = json(await tether(['manager', 'activate', gone.address, '--json'], env)).computer.id
    ok(await tether(['manager', 'deactivate', String(goneId), '--yes'], env), 'deactivate')
    ok(await tether(['manager', 'tokens', 'create', '--uses', '3'], env), 'tokens create')
    const exported = path.join(tempDir(), 'ds_agent_dsm.crt')
    ok(await run('dsm_c', ['-action', 'exportdsmcert', '-output', exported], env), 'exportdsmcert')
    const bound = await agent(newDsaCore(), {hostname: 'bound.test'})
    ok(await tether(['agent', 'bind', exported, '--dsa-core', bound.dsaCore]), 'bind')
    await eventually(async () => (await withStore(home, (store) => store.events.list({}))).length >= 3, 20_000, 'events picked up')
    await manager.stop()

    const source = await SqliteManagerStore.open(path.join(home, 'tether.db'))
    const expected = new Map<string, ReturnType<typeof tableChecksum>>()
    const before = {computers: await source.computers.list(), revoked: await source.certificates.revoked(), crl: (await source.crls.latest())!.number, events: (await source.events.list({})).length}
    for (const table of REGISTRY_TABLES) expected.set(table, tableChecksum(table, await source.registry.dump(table)))
    await source.close()
    for (const table of ['computers', 'certificates', 'crls', 'tokens', 'policies', 'operations', 'events', 'handshakes', 'settings', 'meta']) expect(expected.get(table)!.rows, table).toBeGreaterThan(0)
    const credentialFiles = (dsaCore: string) => Object.fromEntries(Object.entries(snapshot(dsaCore)).filter(([name]) => /^ds_agent(_dsm|_dsm_ca)?\.(crt|key)$/.test(name)))
    const agentFiles = credentialFiles(heartbeating.dsaCore)
    expect(Object.keys(agentFiles).sort()).toEqual(['ds_agent.crt', 'ds_agent.key', 'ds_agent_dsm.crt', 'ds_agent_dsm_ca.crt'])

    // A database that is not empty is refused, and the home is left as it was.
    const taken = await postgres().createDatabase()
    const occupant = await PostgresManagerStore.open(taken)
    await occupant.settings.set('someone', '"else"', new Date())
    await occupant.close()
    const homeBefore = snapshot(home)
    const refused = await tether(['manager', 'migrate', '--to', taken, '--yes', '--json'], env)
    expect(refused.exitCode).toBe(4)
    expect(json(refused).error).toMatchObject({code: 'database-not-empty'})
    expect(snapshot(home)).toEqual(homeBefore)

    const database = await postgres().createDatabase()
    const migrated = json(ok(await tether(['manager', 'migrate', '--to', database, '--name', 'first', '--yes', '--json'], env), 'migrate'))
    expect(migrated).toMatchObject({home, node: 'first', movedAside: path.join(home, 'pre-postgres')})
    expect(migrated.database).not.toContain(postgres().password)
    expect(new Map(migrated.tables.map((t: {table: string}) => [t.table, t]))).toEqual(expected)
    expect(fs.existsSync(path.join(home, 'ca.key'))).toBe(false)
    expect(fs.existsSync(path.join(home, 'tether.db'))).toBe(false)
    expect(fs.readdirSync(path.join(home, 'pre-postgres')).sort()).toEqual(['ca.key', 'tether.db'])
    for (const name of ['kek.key', 'database.url']) expect(fs.statSync(path.join(home, name)).mode & 0o777, name).toBe(0o600)
    expect(json(ok(await tether(['manager', 'nodes', 'list', '--json'], env), 'nodes list')).nodes.map((n: {name: string}) => n.name)).toEqual(['first'])

    // The same port as before: agents notice nothing.
    manager = await startManager(home, {port: manager.port})
    try {
      const seen = async (hostname: string) => (await withStore(home, (store) => store.computers.byHostname(hostname)))[0].lastSeenAt!
      const started = new Date().toISOString()
      await eventually(async () => (await seen('heartbeating.test')) > started, 20_000, 'a heartbeat of the bidirectional agent')
      await eventually(async () => (await seen('polled.test')) > started, 20_000, 'a poll of the manager-initiated computer')
      // The operation queued before the move is delivered at the idle agent's next heartbeat.
      expect(json(ok(await tether(['agent', 'heartbeat', '--dsa-core', idle, '--json']), 'heartbeat')).address).toBe(`127.0.0.1:${manager.port}`)
      const idleId = before.computers.find((c) => c.hostname === 'idle.test')!.id
      const operations = await withStore(home, (store) => store.operations.list(idleId))
      expect(operations.map((op) => [op.command, op.state])).toEqual([['SetSecurityConfiguration', 'done'], ['SetCommunication', 'done']])
      expect(JSON.parse(fs.readFileSync(path.join(idle, 'ds_agent.comm.json'), 'utf8')).heartbeatSeconds).toBe(9)
      // Same computers, ids and certificates; the revocation and the CRL sequence carried on.
      const after = await withStore(home, async (store) => ({computers: await store.computers.list(), revoked: await store.certificates.revoked(), crl: (await store.crls.latest())!.number}))
      expect(after.computers.map((c) => [c.id, c.guid, c.certSha256])).toEqual(before.computers.map((c) => [c.id, c.guid, c.certSha256]))
      expect(after.revoked).toEqual(before.revoked)
      expect(after.crl).toBeGreaterThanOrEqual(before.crl)
      // Its credentials untouched: the same certificate, CA and manager certificate it was activated with.
      expect(credentialFiles(heartbeating.dsaCore)).toEqual(agentFiles)
      // The bound agent is activated through the node: it presents the certificate the agent was bound with.
      const activated = json(ok(await tether(['manager', 'activate', bound.address, '--json'], env), 'activate the bound agent')).computer
      expect(activated.id).toBeGreaterThan(Math.max(...before.computers.map((c) => c.id)))
      expect(fs.readFileSync(path.join(bound.dsaCore, 'ds_agent_dsm.crt'), 'utf8')).toBe(fs.readFileSync(exported, 'utf8'))
      expect((await withStore(home, (store) => store.events.list({}))).length).toBeGreaterThanOrEqual(before.events)
    } finally {
      await manager.stop()
    }
  })
})
