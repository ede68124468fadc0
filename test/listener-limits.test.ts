import fs from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import zlib from 'node:zlib'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CONTROL_MAX_REQUEST_BYTES, CONTROL_SOCKET, serveControl} from '../src/agent/control.js'
import {AgentRuntime} from '../src/agent/server.js'
import {LISTENER_DEFAULTS} from '../src/channel/limits.js'
import {AgentProcess, agent, listener, newDsaCore} from './agents.js'
import {IdleConnections, idleConnections} from './flood.js'
import {eventually, initManager, tempDir, tether} from './helpers.js'
import {agentJournal, managerJournal} from './stores.js'

/**
 * Every TLS listener closes a stalled handshake, a silent connection, and a source's connections
 * beyond its share; the control socket closes a client that never sends its request. Deadlines
 * are set to a second or two here so the tests are quick; the defaults are 10 s and 120 s.
 */

/** Connections the server closed within `ms` of accepting them. */
const closedWithin = (idle: IdleConnections, ms: number) => idle.lifetimes().filter((lived) => lived <= ms).length

/** GetHostInfo over one kept-alive HTTPS agent, as the manager sends it. */
function hostInfo(port: number, agentPool: https.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = zlib.gzipSync('{}')
    const request = https.request({host: '127.0.0.1', port, method: 'POST', path: '/GetHostInfo', agent: agentPool, headers: {'content-encoding': 'gzip', 'content-length': body.length}}, (response) => {
      response.resume()
      response.on('end', () => resolve(response.statusCode!))
    })
    request.on('error', reject)
    request.end(body)
  })
}

describe('the agent port (flags of tether agent start)', () => {
  let a: AgentProcess
  beforeAll(async () => {
    a = await agent(newDsaCore(), {args: ['--handshake-timeout', '1', '--idle-timeout', '2', '--max-connections-per-source', '3', '--log-format', 'json']})
  })

  it('one source holds at most its share; stalled handshakes are closed at the deadline and journaled as such; other sources are served meanwhile', async () => {
    const idle = await idleConnections(a.port, 5)
    // Two over the cap are closed at once, before any TLS byte.
    await eventually(() => closedWithin(idle, 500) >= 2, 2000, 'the connections over the cap to be closed')
    expect(closedWithin(idle, 500)).toBe(2)
    // Another address is not held up by them.
    const pool = new https.Agent({rejectUnauthorized: false, keepAlive: true})
    expect(await hostInfo(a.port, pool)).toBe(200)
    pool.destroy()
    await eventually(() => idle.closedAt.size === 5, 5000, 'the stalled handshakes to be closed')
    const held = idle.lifetimes().slice(2)
    expect(Math.min(...held)).toBeGreaterThanOrEqual(900)
    expect(Math.max(...held)).toBeLessThan(3000)

    const journal = await eventually(async () => {
      const rows = (await agentJournal(a.dsaCore)).filter((row) => row.reason === 'handshake-timeout')
      return rows.length === 3 && rows
    }, 5000, 'three handshake-timeout entries')
    expect(journal[0]).toMatchObject({result: 'refused', context: 'bootstrap', detail: 'TLS handshake timeout'})
    // The log line may reach the pipe a moment after the journal row.
    const refusals = await eventually(() => {
      const events = a.log.events().filter((e) => e.event === 'connection-refused')
      return events.filter((e) => e.reason === 'handshake-timeout').length >= 3 && events
    }, 5000, 'three handshake-timeout log lines')
    expect(refusals.filter((e) => e.reason === 'per-source-cap')).toHaveLength(2)
    expect(refusals.find((e) => e.reason === 'per-source-cap')).toMatchObject({listener: 'agent', source: '127.0.0.2', maxConnectionsPerSource: 3})
    expect(refusals.filter((e) => e.reason === 'handshake-timeout')).toHaveLength(3)
  })

  it('a connection is closed after the idle deadline of silence, not while requests keep coming', async () => {
    const pool = new https.Agent({rejectUnauthorized: false, keepAlive: true, maxSockets: 1})
    let socket: net.Socket | undefined
    pool.on('free', (s: net.Socket) => {
      socket = s
    })
    const opened = Date.now()
    for (let i = 0; i < 4; i++) {
      expect(await hostInfo(a.port, pool)).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }

    // One connection served four requests over more than the 2 s deadline.
    expect(socket).toBeDefined()
    expect(socket!.destroyed).toBe(false)
    const closed = await new Promise<number>((resolve) => socket!.once('close', () => resolve(Date.now())))
    expect(closed - opened).toBeGreaterThan(4500)
    await eventually(() => a.log.events().some((e) => e.event === 'connection-refused' && e.reason === 'idle-timeout'), 3000, 'the idle-timeout log line')
    pool.destroy()
  })
})

describe('the manager heartbeat port under 1000 idle connections', () => {
  let home: string
  let env: Record<string, string>
  beforeAll(async () => {
    ;({home, env} = await initManager(tempDir()))
    expect((await tether(['manager', 'settings', 'set', 'listenerHandshakeTimeoutSeconds', '1'], env)).exitCode).toBe(0)
  })

  it('with the 1024 descriptors of a default soft limit: the excess is refused, the rest closed after the handshake deadline, a real agent heartbeats meanwhile', async () => {
    // One listener process: the descriptor limit below is set on it by its PID.
    const m = await listener(home, {args: ['--log-format', 'json', '--workers', '1']})
    const a = await agent()
    expect((await tether(['manager', 'activate', a.address], env)).exitCode).toBe(0)
    // The limit a flood once exhausted (the manager died of EMFILE, its agents locked out).
    await execa('prlimit', ['--pid', String(m.child.pid), '--nofile=1024:1024'])

    const idle = await idleConnections(m.port, 1000)
    const started = Date.now()
    const beat = await tether(['agent', 'heartbeat', '--dsa-core', a.dsaCore, '--json'])
    const beatMs = Date.now() - started
    expect(beat.exitCode, beat.stdout + beat.stderr).toBe(0)
    expect(beatMs).toBeLessThan(10_000)
    const cap = LISTENER_DEFAULTS.manager.maxConnectionsPerSource
    // Every one was closed by the manager: refused as it was accepted, or at the 1 s deadline
    // (those the full listen backlog made retry their SYN come a second later).
    await eventually(() => idle.closedAt.size === 1000, 10_000, () => `all 1000 closed (${idle.closedAt.size} so far)`)
    expect(idle.lifetimes().at(-1)).toBeLessThan(3000)
    expect(m.child.exitCode).toBeNull()

    // Stopping the manager logs the counts not logged yet; together they account for all 1000.
    await m.stop()
    const counted = (reason: string) => m.log.events()
      .filter((e) => e.listener === 'heartbeat' && e.reason === reason && (e.event === 'connection-refused' || e.event === 'connections-refused'))
      .reduce((sum, e) => sum + (e.event === 'connections-refused' ? Number(e.count) : 1), 0)
    const overCap = counted('per-source-cap')
    const timedOut = counted('handshake-timeout')
    expect(overCap + timedOut).toBe(1000)
    expect(overCap).toBeGreaterThan(0)
    expect(timedOut).toBeGreaterThanOrEqual(cap)
    const journaled = (await managerJournal(home)).filter((row) => row.reason === 'handshake-timeout')
    expect(journaled).toHaveLength(timedOut)
    expect(journaled[0]).toMatchObject({result: 'refused', peerAddress: expect.stringMatching(/^127\.0\.0\.2:/)})
  })
})

describe('the control socket', () => {
  let runtime: AgentRuntime
  let server: net.Server
  let file: string
  beforeAll(async () => {
    const dsaCore = newDsaCore()
    runtime = await AgentRuntime.open({dsaCore})
    server = await serveControl(runtime, {idleMs: 300})
    file = path.join(dsaCore, CONTROL_SOCKET)
  })

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    runtime.close()
  })

  const connect = () => new Promise<net.Socket>((resolve) => {
    const socket = net.createConnection(file, () => resolve(socket))
  })
  const closed = (socket: net.Socket) => new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())))

  it('closes a client that sends no request within the deadline', async () => {
    const socket = await connect()
    const opened = Date.now()
    const at = await closed(socket)
    expect(at - opened).toBeGreaterThanOrEqual(250)
    expect(at - opened).toBeLessThan(2000)
  })

  it('closes a client whose request runs past the size limit; answers one that arrives in pieces', async () => {
    const long = await connect()
    const gone = closed(long)
    long.write('x'.repeat(CONTROL_MAX_REQUEST_BYTES + 1))
    await gone

    const socket = await connect()
    let reply = ''
    socket.on('data', (chunk) => {
      reply += chunk
    })
    socket.write('{"op":')
    await new Promise((resolve) => setTimeout(resolve, 100))
    socket.write('"heartbeat"}\n')
    await closed(socket)
    // Not activated: the heartbeat itself fails, and says so; the request was read and answered.
    expect(JSON.parse(reply)).toMatchObject({ok: false})
    expect(fs.existsSync(file)).toBe(true)
  })
})
