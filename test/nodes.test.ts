import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {hasManagerRole} from '../src/pki/roles.js'
import {REGISTRY_TABLES} from '../src/manager/store/store.js'
import {POSTGRES_MIGRATIONS} from '../src/manager/store/postgres-schema.js'
import {ManagerProcess, agent, newDsaCore, startManager} from './agents.js'
import {CliResult, eventually, json, run, tempDir, tether} from './helpers.js'
import {PostgresServer, startPostgres, usePostgres} from './postgres.js'
import {agentEvents, agentJournal, withStore} from './stores.js'

// Several manager nodes on one real PostgreSQL: homes and invitations, then two running nodes with
// real agents: activation and heartbeats through both, a node killed mid-heartbeat, mid-delivery
// and mid-activation, concurrent claims of one name, bindings across nodes, a node removed, and
// the health endpoint with the database stopped under a running node.

const postgres = usePostgres()

/** How long a dead node's claims and leases last here (the setting nodeLeaseSeconds). */
const LEASE_SECONDS = 4
const leaseRunsOut = () => new Promise((resolve) => setTimeout(resolve, LEASE_SECONDS * 1000 + 100))

const dsaControl = (dsaCore: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => run('dsa_control', args, {TETHER_DSA_CORE: dsaCore, ...env})

function ok(result: CliResult, what: string): CliResult {
  expect(result.exitCode, `${what}: ${result.stdout}\n${result.stderr}`).toBe(0)
  return result
}

interface Installation {
  url: string
  homes: [string, string]
  invitations: string
}

/** An installation of two nodes (n1 made it, n2 joined by invitation), with the given settings. */
async function installation(settings: Record<string, string> = {}): Promise<Installation> {
  const url = await postgres().createDatabase()
  const dir = tempDir()
  const homes: [string, string] = [path.join(dir, 'n1'), path.join(dir, 'n2')]
  ok(await tether(['manager', 'init', '--home', homes[0], '--database', url, '--hostname', 'localhost', '--hostname', '127.0.0.1', '--name', 'n1']), 'init')
  for (const [name, value] of Object.entries(settings)) ok(await tether(['manager', 'settings', 'set', name, value, '--home', homes[0]]), `set ${name}`)
  const invitations = tempDir()
  const invite = path.join(invitations, 'n2.invite')
  ok(await tether(['manager', 'nodes', 'invite', '--output', invite, '--home', homes[0]]), 'invite')
  ok(await tether(['manager', 'join', '--invite', invite, '--database', url, '--home', homes[1], '--hostname', '127.0.0.1', '--name', 'n2']), 'join')
  return {url, homes, invitations}
}

const mode = (file: string) => fs.statSync(file).mode & 0o777

describe('an installation on PostgreSQL: init, invitations, join', () => {
  let nodes: Installation
  beforeAll(async () => {
    nodes = await installation()
  })

  it('keeps each node\'s own files in its home, secrets 0600, and never the CA key or a password where others can read', async () => {
    const {password} = postgres()
    for (const home of nodes.homes) {
      expect(fs.readdirSync(home).filter((name) => !name.startsWith('.')).sort()).toEqual(['ca.crt', 'database.url', 'kek.key', 'manager.crt', 'manager.key', 'node.json'])
      for (const name of ['database.url', 'kek.key', 'manager.key', 'node.json']) expect(mode(path.join(home, name)), name).toBe(0o600)
      expect(fs.readFileSync(path.join(home, 'database.url'), 'utf8')).toContain(password)
      for (const name of fs.readdirSync(home)) {
        const file = path.join(home, name)
        if (fs.statSync(file).isFile() && (mode(file) & 0o044) !== 0) expect(fs.readFileSync(file, 'utf8'), name).not.toContain(password)
      }
    }

    const shown = json(await tether(['manager', 'show', '--json', '--home', nodes.homes[1]]))
    expect(shown).toMatchObject({node: 'n2', database: expect.stringMatching(/^postgres:\/\/tether@127\.0\.0\.1:\d+\/store_\d+$/), schemaVersion: POSTGRES_MIGRATIONS.length})
    expect(JSON.stringify(shown)).not.toContain(password)
  })

  it('holds the CA key and the binding key in the database only sealed: nothing in any table is a private key', async () => {
    await withStore(nodes.homes[0], async (store) => {
      const sealed = await store.meta.get('sealed_ca_key')
      expect(sealed).toMatch(/^tether-sealed-v1\.[A-Za-z0-9_-]+$/)
      for (const table of REGISTRY_TABLES) expect(JSON.stringify(await store.registry.dump(table)), table).not.toContain('PRIVATE KEY')
    })
  })

  it('gives each node its own manager-role certificate from the one CA, and both nodes export the same binding certificate', async () => {
    const certificate = (home: string, name: string) => new crypto.X509Certificate(fs.readFileSync(path.join(home, name)))
    const [ca1, ca2] = nodes.homes.map((home) => certificate(home, 'ca.crt'))
    expect(ca1.raw.equals(ca2.raw)).toBe(true)
    const [m1, m2] = nodes.homes.map((home) => certificate(home, 'manager.crt'))
    expect(m1.raw.equals(m2.raw)).toBe(false)
    for (const cert of [m1, m2]) {
      expect(hasManagerRole(cert)).toBe(true)
      expect(cert.verify(ca1.publicKey)).toBe(true)
    }

    const exported = await Promise.all(nodes.homes.map(async (home) => {
      const file = path.join(tempDir(), 'ds_agent_dsm.crt')
      ok(await run('dsm_c', ['-action', 'exportdsmcert', '-output', file], {TETHER_MANAGER_HOME: home}), 'exportdsmcert')
      return new crypto.X509Certificate(fs.readFileSync(file))
    }))
    expect(exported[0].raw.equals(exported[1].raw)).toBe(true)
    expect(hasManagerRole(exported[0])).toBe(true)
    expect(exported[0].verify(ca1.publicKey)).toBe(true)
    expect([m1, m2].some((cert) => cert.raw.equals(exported[0].raw))).toBe(false)
  })

  it('writes a private invitation without the database password, good for one node and until it expires', async () => {
    const file = path.join(nodes.invitations, 'once.invite')
    const made = json(await tether(['manager', 'nodes', 'invite', '--output', file, '--ttl', '10m', '--home', nodes.homes[1], '--json']))
    expect(made).toMatchObject({file, id: expect.stringMatching(/^[0-9a-f]{8}$/), createdBy: 'n2'})
    expect(mode(file)).toBe(0o600)
    expect(fs.readFileSync(file, 'utf8')).not.toContain(postgres().password)
    // No --database: the invitation's URL (no password) and the password from the environment.
    const first = await tether(['manager', 'join', '--invite', file, '--home', path.join(tempDir(), 'n3'), '--hostname', '127.0.0.1', '--name', 'n3', '--json'], {PGPASSWORD: postgres().password})
    expect(json(ok(first, 'join n3'))).toMatchObject({node: 'n3'})
    const again = await tether(['manager', 'join', '--invite', file, '--database', nodes.url, '--home', path.join(tempDir(), 'n4'), '--name', 'n4', '--json'])
    expect(again.exitCode).toBe(4)
    expect(json(again).error).toMatchObject({code: 'invitation-used'})

    const short = path.join(nodes.invitations, 'short.invite')
    ok(await tether(['manager', 'nodes', 'invite', '--output', short, '--ttl', '1s', '--home', nodes.homes[0]]), 'invite')
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const late = await tether(['manager', 'join', '--invite', short, '--database', nodes.url, '--home', path.join(tempDir(), 'n5'), '--name', 'n5', '--json'])
    expect(json(late).error).toMatchObject({code: 'invitation-expired'})
    expect(fs.existsSync(path.join(path.dirname(path.join(tempDir(), 'n5')), 'n5'))).toBe(false)

    fs.chmodSync(short, 0o644)
    expect(json(await tether(['manager', 'join', '--invite', short, '--database', nodes.url, '--home', path.join(tempDir(), 'n6'), '--json'])).error).toMatchObject({code: 'invitation-not-private'})

    const listed = json(await tether(['manager', 'nodes', 'list', '--json', '--home', nodes.homes[0]])).nodes
    expect(listed.map((node: {name: string; state: string; self: boolean}) => [node.name, node.state, node.self])).toEqual([['n1', 'active', true], ['n2', 'active', false], ['n3', 'active', false]])
    ok(await tether(['manager', 'nodes', 'remove', 'n3', '--yes', '--home', nodes.homes[0]]), 'remove n3')
  })

  it('refuses an invitation against another installation\'s database, and a node the database does not know', async () => {
    const other = await postgres().createDatabase()
    const otherHome = path.join(tempDir(), 'other')
    ok(await tether(['manager', 'init', '--home', otherHome, '--database', other, '--name', 'other']), 'init other')
    const file = path.join(nodes.invitations, 'cross.invite')
    ok(await tether(['manager', 'nodes', 'invite', '--output', file, '--home', nodes.homes[0]]), 'invite')
    const crossed = await tether(['manager', 'join', '--invite', file, '--database', other, '--home', path.join(tempDir(), 'x'), '--json'])
    expect(json(crossed).error).toMatchObject({code: 'wrong-installation'})
    // A node home pointed at another installation's database is refused, not used.
    fs.writeFileSync(path.join(otherHome, 'database.url'), `${nodes.url}\n`, {mode: 0o600})
    expect(json(await tether(['manager', 'show', '--json', '--home', otherHome])).error).toMatchObject({code: 'wrong-installation'})
    // And init does not take over a database that holds an installation.
    expect(json(await tether(['manager', 'init', '--home', path.join(tempDir(), 'y'), '--database', nodes.url, '--json'])).error).toMatchObject({code: 'database-not-empty'})
  })
})

describe('two running nodes with agents', () => {
  let nodes: Installation
  const running: [ManagerProcess | undefined, ManagerProcess | undefined] = [undefined, undefined]
  const ports: number[] = []
  const address = (i: number) => `127.0.0.1:${ports[i]}`
  const url = (i: number) => `dsm://${address(i)}/`
  const env = (i: number) => ({TETHER_MANAGER_HOME: nodes.homes[i]})

  /** (Re)start node i on its port, with a failpoint when given; it is stopped (or found dead) first. */
  async function startNode(i: number, failpoint?: string): Promise<ManagerProcess> {
    await running[i]?.stop()
    const started = await startManager(nodes.homes[i], {port: ports[i] ?? 0, env: failpoint ? {TETHER_FAILPOINT: failpoint} : {}, args: ['--log-format', 'json']})
    ports[i] = started.port
    running[i] = started
    return started
  }

  beforeAll(async () => {
    nodes = await installation({agentInitiatedActivation: 'any', heartbeatIntervalSeconds: '1', nodeLeaseSeconds: String(LEASE_SECONDS)})
    await startNode(0)
    await startNode(1)
    // Both nodes have said where they listen before any agent is activated.
    await eventually(() => withStore(nodes.homes[0], async (store) => (await store.nodes.list()).every((node) => node.heartbeatAddress)), 10_000, 'both nodes listed with their addresses')
  })

  afterAll(async () => {
    await Promise.all(running.map((node) => node?.stop()))
  })

  const computer = (hostname: string) => withStore(nodes.homes[0], async (store) => (await store.computers.byHostname(hostname)).filter((c) => c.state !== 'activating'))
  const communication = (dsaCore: string) => JSON.parse(fs.readFileSync(path.join(dsaCore, 'ds_agent.comm.json'), 'utf8')) as {managerAddress: string; managerAddresses?: string[]; heartbeatSeconds: number}
  const heartbeat = async (dsaCore: string) => json(ok(await tether(['agent', 'heartbeat', '--dsa-core', dsaCore, '--json']), 'heartbeat'))

  it('activates agents in both communication modes through either node; each is told both nodes and heartbeats through them', async () => {
    // Manager-initiated activation through n1, of a running agent (bidirectional).
    const a = await agent(newDsaCore(), {hostname: 'via-n1.test'})
    ok(await tether(['manager', 'activate', a.address], env(0)), 'activate through n1')
    // Agent-initiated activation through n2 (dsa_control -a), with no agent daemon.
    const b = newDsaCore()
    expect(ok(await dsaControl(b, ['-a', url(1), 'hostname:via-n2.test']), 'dsa_control -a').stdout.split('\n').find((line) => line.startsWith('HTTP Status:'))).toBe('HTTP Status: 200 - OK')
    expect(communication(a.dsaCore)).toMatchObject({managerAddress: address(0), managerAddresses: [address(0), address(1)], heartbeatSeconds: 1})
    expect(communication(b)).toMatchObject({managerAddress: address(1), managerAddresses: [address(0), address(1)]})
    expect((await heartbeat(a.dsaCore)).address).toBe(address(0))
    expect((await heartbeat(b)).address).toBe(address(1))
    // A manager-initiated computer is polled (by one node at a time) whichever node set it.
    ok(await tether(['manager', 'computers', 'set', 'via-n1.test', '--mode', 'manager-initiated'], env(1)), 'computers set')
    await eventually(() => (communication(a.dsaCore) as {mode?: string}).mode === 'manager-initiated', 20_000, 'the agent in manager-initiated mode')
    // It sends no heartbeats now: only a node polling it moves its last contact on.
    const before = (await computer('via-n1.test'))[0].lastSeenAt!
    await eventually(async () => (await computer('via-n1.test'))[0].lastSeenAt! > before, 20_000, 'a poll of the manager-initiated computer')
    expect((await computer('via-n1.test'))).toHaveLength(1)
    expect((await computer('via-n2.test'))).toMatchObject([{state: 'activated', mode: 'bidirectional'}])
  })

  it('a node killed mid-heartbeat (events pulled, not stored): the agent carries on through the other node, every event stored once', async () => {
    const dsaCore = newDsaCore()
    ok(await dsaControl(dsaCore, ['-a', url(0), 'hostname:events.test']), 'activate through n1')
    // The agent's `activated` event waits for its first heartbeat; n1 dies having pulled it.
    const doomed = await startNode(0, 'manager-events:pulled')
    await dsaControl(dsaCore, ['-m'])
    expect((await doomed.child).signal).toBe('SIGKILL')
    const beat = await heartbeat(dsaCore)
    expect(beat).toMatchObject({address: address(1), failedOver: [{address: address(0), reason: 'connection-refused'}]})
    const [recorded] = await computer('events.test')
    const events = await withStore(nodes.homes[1], (store) => store.events.list({computerId: recorded.id}))
    expect(events.map((event) => event.type)).toEqual(['activated'])
    // Acknowledged by the node that stored them: the agent holds none any more.
    expect(await agentEvents(dsaCore)).toEqual([])
    await startNode(0)
  })

  it('a node killed having claimed a queued operation: the claim runs out and the other node delivers it, once', async () => {
    const dsaCore = newDsaCore()
    ok(await dsaControl(dsaCore, ['-a', url(0), 'hostname:claimed.test']), 'activate through n1')
    await dsaControl(dsaCore, ['-m'])
    const doomed = await startNode(0, 'manager-contact:claimed')
    // Queued through the node that is about to die.
    ok(await tether(['manager', 'computers', 'set', 'claimed.test', '--heartbeat-interval', '7'], env(0)), 'computers set')
    await dsaControl(dsaCore, ['-m'])
    expect((await doomed.child).signal).toBe('SIGKILL')
    const [recorded] = await computer('claimed.test')
    const queued = async () => withStore(nodes.homes[1], async (store) => (await store.operations.list(recorded.id)).filter((op) => op.command === 'SetCommunication'))
    // Through n2 at once: still claimed by the dead node, so not delivered in this contact...
    expect((await heartbeat(dsaCore)).address).toBe(address(1))
    expect((await queued()).map((op) => [op.state, op.attempts])).toEqual([['queued', 0]])
    expect(communication(dsaCore).heartbeatSeconds).toBe(1)
    // ...and once the claim has run out (nodeLeaseSeconds), delivered by the next contact, once.
    await leaseRunsOut()
    await heartbeat(dsaCore)
    expect((await queued()).map((op) => [op.state, op.attempts])).toEqual([['done', 1]])
    expect(communication(dsaCore).heartbeatSeconds).toBe(7)
    await heartbeat(dsaCore)
    expect((await queued()).map((op) => [op.state, op.attempts])).toEqual([['done', 1]])
    await startNode(0)
  })

  it('a node killed after the agent applied a configuration, before recording it: the other node finishes it without sending it again', async () => {
    const dsaCore = newDsaCore()
    ok(await dsaControl(dsaCore, ['-a', url(0), 'hostname:answered.test']), 'activate through n1')
    await dsaControl(dsaCore, ['-m'])
    const policy = path.join(tempDir(), 'web.json')
    fs.writeFileSync(policy, '{"firewall": {"enabled": true}}')
    ok(await tether(['manager', 'policies', 'create', 'web', '--file', policy], env(1)), 'policies create')
    const doomed = await startNode(0, 'manager-contact:answered')
    ok(await tether(['manager', 'policies', 'assign', 'web', 'answered.test'], env(0)), 'policies assign')
    await dsaControl(dsaCore, ['-m'])
    expect((await doomed.child).signal).toBe('SIGKILL')
    expect(json(await tether(['agent', 'status', '--dsa-core', dsaCore, '--json'])).configuration).toMatchObject({policy: 'web', version: 1})
    await leaseRunsOut()
    expect((await heartbeat(dsaCore)).address).toBe(address(1))
    await heartbeat(dsaCore)
    const [recorded] = await computer('answered.test')
    const operations = await withStore(nodes.homes[1], (store) => store.operations.list(recorded.id))
    expect(operations.filter((op) => op.command === 'SetSecurityConfiguration').map((op) => [op.state, (op.result as {alreadyApplied?: boolean}).alreadyApplied])).toEqual([['done', true]])
    // Applied once on the agent: one configuration-applied event, picked up once.
    const applied = await withStore(nodes.homes[1], (store) => store.events.list({computerId: recorded.id, type: 'configuration-applied'}))
    expect(applied).toHaveLength(1)
    await startNode(0)
  })

  it('a node killed mid-activation, after the agent installed its credentials: the activation completes through the other node, once', async () => {
    const dsaCore = newDsaCore()
    const doomed = await startNode(0, 'manager-activation:credentials-sent')
    const cut = await dsaControl(dsaCore, ['-a', url(0), 'hostname:cut.test'])
    expect((await doomed.child).signal).toBe('SIGKILL')
    expect(cut.exitCode).not.toBe(0)
    const status = json(await tether(['agent', 'status', '--dsa-core', dsaCore, '--json']))
    expect(status.state).toBe('activated')
    // Reserved, not yet a computer: nothing half-made is shown as activated.
    expect(await computer('cut.test')).toEqual([])
    expect((await heartbeat(dsaCore)).address).toBe(address(1))
    const recorded = await computer('cut.test')
    expect(recorded.map((c) => [c.state, c.certSha256])).toEqual([['activated', status.certificateHash.sha256]])
    expect(await withStore(nodes.homes[1], async (store) => (await store.computers.byHostname('cut.test')).length)).toBe(1)
    // Once n1 runs again, a new agent process goes to the address it dialled first, and is served.
    await startNode(0)
    expect((await heartbeat(dsaCore)).address).toBe(address(0))
  })

  it('concurrent activations of one name through both nodes follow duplicateNamePolicy: refuse makes one computer, new makes one each', async () => {
    const activateMany = (count: number, hostname: string) =>
      Promise.all(Array.from({length: count}, (_, i) => dsaControl(newDsaCore(), ['-a', url(i % 2), `hostname:${hostname}`])))
    ok(await tether(['manager', 'settings', 'set', 'duplicateNamePolicy', 'refuse'], env(1)), 'settings set')
    const refused = await activateMany(6, 'contested.test')
    expect(refused.map((r) => r.stdout.split('\n').find((line) => line.startsWith('HTTP Status:'))).sort()).toEqual([...Array(5).fill('HTTP Status: 409 - Conflict'), 'HTTP Status: 200 - OK'].sort())
    expect((await computer('contested.test')).map((c) => c.state)).toEqual(['activated'])
    ok(await tether(['manager', 'settings', 'set', 'duplicateNamePolicy', 'new'], env(0)), 'settings set')
    const created = await activateMany(4, 'shared.test')
    expect(created.map((r) => r.stdout.split('\n').find((line) => line.startsWith('HTTP Status:')))).toEqual(Array(4).fill('HTTP Status: 200 - OK'))
    const shared = await computer('shared.test')
    expect(shared.map((c) => c.state)).toEqual(Array(4).fill('activated'))
    expect(new Set(shared.map((c) => c.guid)).size).toBe(4)
  })

  it('activates an agent bound to the installation through either node (the binding identity), and a removed node is refused by agents after their next contact', async () => {
    const file = path.join(tempDir(), 'ds_agent_dsm.crt')
    ok(await tether(['manager', 'export-cert', '--output', file], env(1)), 'export-cert')
    const bound = await agent(newDsaCore(), {hostname: 'bound.test'})
    ok(await tether(['agent', 'bind', file, '--dsa-core', bound.dsaCore]), 'bind')
    ok(await tether(['manager', 'activate', bound.address], env(1)), 'activate the bound agent through n2')
    expect(fs.readFileSync(path.join(bound.dsaCore, 'ds_agent_dsm.crt'), 'utf8')).toBe(fs.readFileSync(file, 'utf8'))

    // An agent that heartbeats to n2 first.
    const dsaCore = newDsaCore()
    ok(await dsaControl(dsaCore, ['-a', url(1), 'hostname:to-n2.test']), 'activate through n2')
    expect((await heartbeat(dsaCore)).address).toBe(address(1))
    const removed = json(ok(await tether(['manager', 'nodes', 'remove', 'n2', '--yes', '--json'], env(0)), 'nodes remove'))
    expect(removed).toMatchObject({node: {name: 'n2', state: 'removed'}, revoked: 1})
    // The next contact, still through the removed node (it runs on), brings the CRL that revokes it...
    expect((await heartbeat(dsaCore)).address).toBe(address(1))
    expect(communication(dsaCore).managerAddresses).toEqual([address(0)])
    // ...and from then on the agent refuses it and goes to n1.
    expect(await heartbeat(dsaCore)).toMatchObject({address: address(0), failedOver: [{address: address(1), reason: 'revoked'}]})
    expect((await agentJournal(dsaCore)).some((entry) => entry.peerAddress === address(1) && entry.result === 'refused' && entry.reason === 'revoked')).toBe(true)
    // The removed node does not start again; bound agents are not stranded: n1 presents the same binding.
    await running[1]!.stop()
    running[1] = undefined
    const restart = await tether(['manager', 'start', '--home', nodes.homes[1], '--port', '0', '--json'])
    expect(json(restart).error).toMatchObject({code: 'node-removed'})
    const second = await agent(newDsaCore(), {hostname: 'bound-later.test'})
    ok(await tether(['agent', 'bind', file, '--dsa-core', second.dsaCore]), 'bind')
    ok(await tether(['manager', 'activate', second.address], env(0)), 'activate the bound agent through n1')
  })
})

describe('the health endpoint of a running node', () => {
  let server: PostgresServer
  beforeAll(async () => {
    // A server of its own: it is stopped and started again under the running node.
    server = await startPostgres()
  })

  afterAll(async () => {
    await server?.stop()
  })

  const get = (where: string, pathname: string) =>
    new Promise<{status: number; body: Record<string, unknown>}>((resolve, reject) => {
      http.get(`http://${where}${pathname}`, (res) => {
        let text = ''
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
        res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(text)}))
      }).on('error', reject)
    })

  it('answers 200 while the store and the listener are up, 503 while the database is down, and 200 again when it is back', async () => {
    const home = path.join(tempDir(), 'node')
    ok(await tether(['manager', 'init', '--home', home, '--database', await server.createDatabase(), '--name', 'solo']), 'init')
    const node = await startManager(home, {args: ['--health-port', '0']})
    try {
      const where = node.ready.health as string
      expect(where).toMatch(/^127\.0\.0\.1:\d+$/)
      expect(await get(where, '/healthz')).toEqual({status: 200, body: {status: 'ok', store: 'ok', listener: 'ok', node: 'solo'}})
      expect((await get(where, '/other')).status).toBe(404)
      await server.pause()
      const down = await eventually(async () => {
        const answer = await get(where, '/healthz')
        return answer.status === 503 && answer
      }, 15_000, 'a 503')
      expect(down.body).toMatchObject({status: 'unavailable', listener: 'ok', store: 'database-unreachable'})
      await server.resume()
      await eventually(async () => (await get(where, '/healthz')).status === 200, 20_000, '200 again')
    } finally {
      await node.stop()
    }
  })
})

