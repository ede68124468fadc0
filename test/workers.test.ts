import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {heartbeatOnce} from '../src/agent/outbound.js'
import {AgentRuntime} from '../src/agent/server.js'
import {assignPolicy} from '../src/manager/policies.js'
import {ManagerProcess, startManager} from './agents.js'
import {CliResult, eventually, initManager, json, run, tempDir, tether} from './helpers.js'
import {usePostgres} from './postgres.js'
import {withStore} from './stores.js'

/**
 * `tether manager start --workers N`: the heartbeat listener in N processes on one port, every
 * guarantee of the single process kept (real processes, real TLS on loopback). Which worker the
 * kernel hands a connection to is its choice: tests that need both repeat until the log shows both.
 */

const postgres = usePostgres()

const dsaControl = (dsaCore: string, args: string[]): Promise<CliResult> => run('dsa_control', args, {TETHER_DSA_CORE: dsaCore})
const status = (result: CliResult) => result.stdout.split('\n').find((line) => line.startsWith('HTTP Status:'))
const heartbeat = (dsaCore: string) => tether(['agent', 'heartbeat', '--dsa-core', dsaCore, '--json'])

function ok(result: CliResult, what: string): CliResult {
  if (result.exitCode !== 0) throw new Error(`${what} exited ${result.exitCode}: ${result.stderr || result.stdout}`)
  return result
}

function newDsaCore(): string {
  const parent = path.join(tempDir('tether-agent-'), 'ds_agent')
  fs.mkdirSync(parent)
  return path.join(parent, 'dsa_core')
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Workers that journaled an accepted connection of `reason` (the daemon log names the worker). */
const workersServing = (manager: ManagerProcess, reason: string, peerSha256?: string) =>
  new Set(manager.log.events().filter((e) => e.event === 'handshake-accepted' && e.reason === reason && (!peerSha256 || e.peerSha256 === peerSha256)).map((e) => e.worker))

async function startWorkers(home: string, env: Record<string, string> = {}, count = 2): Promise<ManagerProcess> {
  return startManager(home, {env, args: ['--workers', String(count), '--log-format', 'json', '--log-level', 'debug']})
}

/** Activate `count` agents at once with dsa_control -a (no agent daemon): each must be told 200. */
async function activateMany(manager: ManagerProcess, prefix: string, count: number): Promise<string[]> {
  const cores = Array.from({length: count}, () => newDsaCore())
  const results = await Promise.all(cores.map((dsaCore, i) => dsaControl(dsaCore, ['-a', manager.url, `hostname:${prefix}-${i}.test`])))
  expect(results.map((result) => (status(result) === 'HTTP Status: 200 - OK' ? status(result) : `${result.stdout}${result.stderr}`))).toEqual(Array(count).fill('HTTP Status: 200 - OK'))
  return cores
}

/**
 * A policy assigned to each computer, then four heartbeats of each at the same instant (one agent
 * runtime each, in this process, so their connections overlap): each configuration is applied once
 * on each agent, and its operation ran once. The kernel may hand a burst to one worker: rounds (a
 * new version of the policy each) go on until one was served by both, at most five; every round
 * must have been exactly once.
 */
async function exactlyOnce(manager: ManagerProcess, home: string, cores: string[], prefix: string): Promise<void> {
  const file = path.join(tempDir(), 'web.json')
  let rounds = 0
  for (let both = false; !both && rounds < 5;) {
    rounds++
    fs.writeFileSync(file, JSON.stringify({firewall: {enabled: true}, round: rounds}))
    ok(await tether(['manager', 'policies', 'create', `${prefix}-web`, '--file', file, '--home', home, ...(rounds > 1 ? ['--replace'] : [])]), 'policies create')
    if (rounds === 1) {
      await withStore(home, async (store) => {
        for (let i = 0; i < cores.length; i++) await assignPolicy({store, now: () => new Date()}, `${prefix}-web`, `${prefix}-${i}.test`)
      })
    }

    const runtimes = await Promise.all(cores.map((dsaCore) => AgentRuntime.open({dsaCore})))
    const mark = manager.log.lines.length
    try {
      const beats = await Promise.allSettled(runtimes.flatMap((runtime) => [1, 2, 3, 4].map(() => heartbeatOnce(runtime))))
      expect(beats.filter((beat) => beat.status === 'rejected').map((beat) => String((beat as PromiseRejectedResult).reason))).toEqual([])
    } finally {
      for (const runtime of runtimes) runtime.close()
    }

    const served = manager.log.lines.slice(mark).map((line) => JSON.parse(line)).filter((e) => e.event === 'handshake-accepted' && e.reason === 'heartbeat')
    both = new Set(served.map((e) => e.worker)).size === 2
  }

  expect(rounds, 'no round of heartbeats was served by both workers').toBeLessThan(6)
  // One more each, so the events of the last round are picked up.
  for (const dsaCore of cores) ok(await heartbeat(dsaCore), 'heartbeat')
  await withStore(home, async (store) => {
    for (let i = 0; i < cores.length; i++) {
      const [computer] = (await store.computers.byHostname(`${prefix}-${i}.test`)).filter((c) => c.state === 'activated')
      const operations = (await store.operations.list(computer.id)).filter((op) => op.command === 'SetSecurityConfiguration')
      expect(operations.map((op) => [op.state, op.attempts]), `${prefix}-${i}`).toEqual(Array(rounds).fill(['done', 1]))
      // The agent records one configuration-applied event each time it applies one.
      expect(await store.events.list({computerId: computer.id, type: 'configuration-applied'}), `${prefix}-${i}`).toHaveLength(rounds)
    }
  })
}

describe('manager start --workers 2 on SQLite', () => {
  let home: string
  let manager: ManagerProcess
  let cores: string[] = []

  beforeAll(async () => {
    ;({home} = await initManager(tempDir()))
    manager = await startWorkers(home)
  })

  afterAll(async () => {
    await manager?.stop()
  })

  it('prints one listening line with the port both workers bound (port 0), and logs each worker starting with its id', async () => {
    expect(manager.ready).toMatchObject({event: 'listening', host: '127.0.0.1', workers: 2, pid: manager.child.pid})
    expect(manager.ready.port).toBeGreaterThan(0)
    const listening = manager.log.events().filter((e) => e.event === 'worker-listening')
    expect(listening.map((e) => [e.worker, e.port]).sort()).toEqual([[1, manager.ready.port], [2, manager.ready.port]])
    await manager.log.event((e) => e.event === 'listening', 'the listening log line')
    expect(manager.log.events().filter((e) => e.event === 'listening')).toHaveLength(1)
  })

  it('activates many agents at once (confirmations reaching the other worker are relayed), and serves their heartbeats on both workers', async () => {
    cores = await activateMany(manager, 'many', 10)
    for (let round = 0; round < 10 && workersServing(manager, 'heartbeat').size < 2; round++) {
      const beats = await Promise.all(cores.map((dsaCore) => heartbeat(dsaCore)))
      expect(beats.filter((beat) => beat.exitCode !== 0).map((beat) => beat.stderr)).toEqual([])
    }

    expect([...workersServing(manager, 'heartbeat')].sort()).toEqual([1, 2])
  })

  it('an agent-initiated activation whose confirmation reaches the other worker completes through the relay', async () => {
    for (let round = 0; round < 8 && !manager.log.events().some((e) => e.event === 'confirmation-relayed'); round++) cores.push(...(await activateMany(manager, `relay${round}`, 4)))
    const relayed = manager.log.events().find((e) => e.event === 'confirmation-relayed')
    expect(relayed, 'no confirmation reached the other worker in 32 activations').toBeDefined()
    expect(relayed!.from).not.toBe(relayed!.to)
    // The computer it confirmed is activated, once.
    const computers = await withStore(home, (store) => store.computers.list())
    const confirmed = computers.filter((c) => c.certSha256 === relayed!.peerSha256)
    expect(confirmed.map((c) => c.state)).toEqual(['activated'])
  })

  it('runs a queued operation for each computer exactly once although heartbeats hit both workers at once', async () => {
    await exactlyOnce(manager, home, cores.slice(0, 8), 'many')
  })

  it('refuses, on every worker, a certificate revoked while running (each reloads the CRL)', async () => {
    expect(cores.length, 'the agents activated above').toBeGreaterThanOrEqual(8)
    const dsaCore = cores[0]
    const sha256 = await withStore(home, async (store) => {
      const [computer] = (await store.computers.byHostname('many-0.test')).filter((c) => c.state === 'activated')
      expect(await store.certificates.revoke(computer.certSha256!, 'keyCompromise', new Date())).toBe(true)
      return computer.certSha256!
    })
    const served = workersServing(manager, 'heartbeat', sha256).size
    const accepted = () => manager.log.events().filter((e) => e.event === 'handshake-accepted' && e.peerSha256 === sha256).length
    const before = accepted()
    const refusedBy = () => new Set(manager.log.events().filter((e) => e.event === 'handshake-refused' && e.reason === 'revoked').map((e) => e.worker))
    for (let round = 0; round < 12 && refusedBy().size < 2; round++) {
      const beats = await Promise.all([heartbeat(dsaCore), heartbeat(dsaCore)])
      expect(beats.map((beat) => beat.exitCode)).not.toContain(0)
    }

    expect([...refusedBy()].sort()).toEqual([1, 2])
    // Never served after the revocation (before the reload the registry check refuses it too).
    expect(served).toBeGreaterThan(0)
    expect(accepted()).toBe(before)
  })

  it('counts failed activation attempts for the node, not per worker: one that saw fewer than the limit refuses too (429)', async () => {
    const computers = await withStore(home, (store) => store.computers.count())
    ok(await tether(['manager', 'settings', 'set', 'activationToken', 'the right one', '--home', home]), 'settings set')
    ok(await tether(['manager', 'settings', 'set', 'activationFailureLimit', '4', '--home', home]), 'settings set')
    // The workers read settings on the poll interval.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    for (let i = 0; i < 4; i++) expect(status(await dsaControl(newDsaCore(), ['-a', manager.url, `token:guess ${i}`, '--max-dsm-retries', '0']))).toBe('HTTP Status: 401 - Unauthorized')
    const refusals = (reason: string) => manager.log.events().filter((e) => e.event === 'handshake-refused' && e.reason === reason)
    const failedOn = (worker: number) => refusals('bad-token').filter((e) => e.worker === worker).length
    expect(refusals('bad-token')).toHaveLength(4)
    // Until a probe reaches a worker that counted fewer than four failures itself.
    let proof: Record<string, any> | undefined
    for (let probe = 0; probe < 10 && !proof; probe++) {
      const limited = await dsaControl(newDsaCore(), ['-a', manager.url, 'token:the right one', '--max-dsm-retries', '0'])
      expect(status(limited)).toBe('HTTP Status: 429 - Too Many Requests')
      proof = refusals('rate-limited').find((e) => failedOn(e.worker) < 4)
    }

    expect(proof, 'every probe reached the worker that counted all four failures').toBeDefined()
    // Refused unchecked: nothing activated.
    expect(await withStore(home, (store) => store.computers.count())).toBe(computers)
  })

  it('logs a worker killed with SIGKILL, starts it again, and keeps serving meanwhile', async () => {
    const started = manager.log.events().filter((e) => e.event === 'worker-started' && e.worker === 2)
    const pid = started.at(-1)!.pid as number
    process.kill(pid, 'SIGKILL')
    await manager.log.event((e) => e.event === 'worker-exited' && e.worker === 2 && e.pid === pid && e.signal === 'SIGKILL', 'the worker exit logged')
    // Served by the other worker meanwhile.
    ok(await heartbeat(cores[1]), 'heartbeat with one worker down')
    const again = await manager.log.event((e) => e.event === 'worker-listening' && e.worker === 2 && e.pid !== pid, 'worker 2 listening again')
    expect(again.port).toBe(manager.ready.port)
    const beats = await Promise.all(cores.slice(1, 7).map((dsaCore) => heartbeat(dsaCore)))
    expect(beats.filter((beat) => beat.exitCode !== 0).map((beat) => beat.stderr)).toEqual([])
  })

  it('refuses a second start on the home with the PID of the running primary', async () => {
    const second = await tether(['manager', 'start', '--home', home, '--port', '0', '--workers', '2', '--json'])
    expect(second.exitCode).toBe(4)
    expect(json(second).error).toMatchObject({code: 'manager-running', message: expect.stringContaining(`(process ${manager.child.pid})`)})
  })

  it('stops every worker on SIGTERM and exits 0', async () => {
    const pids = manager.log.events().filter((e) => e.event === 'worker-started').map((e) => e.pid as number)
    expect(pids.some(alive)).toBe(true)
    manager.child.kill('SIGTERM')
    const result = await manager.child
    expect(result.exitCode).toBe(0)
    expect(pids.filter(alive)).toEqual([])
    expect(manager.log.events().filter((e) => e.event === 'worker-stopped').map((e) => e.worker).sort()).toEqual([1, 2])
    expect(manager.log.events().some((e) => e.event === 'stopped')).toBe(true)
  })
})

describe('manager start --workers 1', () => {
  it('runs the listener in the manager process itself, as before: no workers, log lines without a worker', async () => {
    const {home} = await initManager(tempDir())
    const manager = await startWorkers(home, {}, 1)
    try {
      expect(manager.ready).toMatchObject({event: 'listening', workers: 1, pid: manager.child.pid})
      const [dsaCore] = await activateMany(manager, 'single', 1)
      ok(await heartbeat(dsaCore), 'heartbeat')
      await manager.log.event((e) => e.event === 'handshake-accepted' && e.reason === 'heartbeat', 'the heartbeat logged')
      expect(manager.log.events().filter((e) => e.event.startsWith('worker-') || 'worker' in e)).toEqual([])
    } finally {
      await manager.stop()
    }
  })
})

describe('manager start --workers 2 on PostgreSQL', () => {
  it('runs a queued operation for each computer exactly once although heartbeats hit both workers at once', async () => {
    const url = await postgres().createDatabase()
    const home = path.join(tempDir(), 'n1')
    ok(await tether(['manager', 'init', '--home', home, '--database', url, '--hostname', 'localhost', '--hostname', '127.0.0.1', '--name', 'n1']), 'init')
    ok(await tether(['manager', 'settings', 'set', 'agentInitiatedActivation', 'any', '--home', home]), 'settings set')
    const manager = await startWorkers(home)
    try {
      await eventually(() => withStore(home, async (store) => (await store.nodes.list()).every((node) => node.heartbeatAddress)), 10_000, 'the node listed with its address')
      const cores = await activateMany(manager, 'pg', 6)
      await exactlyOnce(manager, home, cores, 'pg')
    } finally {
      await manager.stop()
    }

    expect(manager.log.events().filter((e) => e.event === 'worker-stopped')).toHaveLength(2)
  })
})
