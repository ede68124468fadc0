// Manager-initiated activation throughput, latency and manager CPU per activation, against agents
// on loopback hosted by a separate process (bench/agents-host.js) so `process.cpuUsage()` here is
// the manager's alone. Agent key pairs are generated in that process before the timer starts.
//
// Reference, measured in the same run against the same agents at the same concurrency: one bare
// TLS handshake (the manager's certificate offered, as activation does) plus one GetHostInfo round
// trip, by a plain Node client: tls.connect with the certificate and key PEMs, so a SecureContext
// is made per connection (as connectTls itself did when the goal was set), and Node's http client
// (tether's HttpSession reads its replies itself since issue 15, so it would move the reference). An
// activation is two handshakes (bootstrap, then mutual-TLS confirmation) and six commands, plus a
// CA signature and registry writes, so the x_ref columns say what the rest costs. A second
// reference row does the same through tether's own client (src/channel/connect.ts, which keeps its
// contexts, and HttpSession): x_kept_ref_cpu is the activation's CPU over that one.
//
// The signature floor, measured in the same run (bench/signature-floor.js: `openssl speed` of
// RSA-2048 and RSA-3072, the key sizes in use): sig_floor_ms = what the RSA operations an
// activation (or the reference's one handshake) needs cost at openssl's speed; x_sig_floor = the
// manager's CPU per operation over it. Goal (issue 15): activation CPU at most 2.5x the reference's.
//
// Agents per round: TETHER_BENCH_AGENTS (default 200, quick 24); concurrency levels:
// TETHER_BENCH_CONCURRENCY (default "1,16"). Each concurrency level gets fresh agents (an agent
// activates once; keys from the pool of bench/key-pool.js); one manager (CA, registry) serves all
// levels. TETHER_BENCH_MANAGER_PROFILE=DIR: a V8 CPU profile of the timed activations of each level
// (this process is the manager), DIR/activation-cN.cpuprofile (bench/PROFILE.md).
//
// Renewals (issue 12 section 7) are measured beside activations of their own, in the same run, by
// bench/renewal.js, which uses the reference and activation calls exported here.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import http from 'node:http'
import tls from 'node:tls'
import zlib from 'node:zlib'

import {activate as activateAgent} from '../dist/manager/manager-initiated.js'
import {connectTls} from '../dist/channel/connect.js'
import {TLS_POLICY} from '../dist/channel/tls.js'
import {HttpSession} from '../dist/channel/http-session.js'
import {initManagerHome} from '../dist/manager/home.js'
import {keyPool} from './key-pool.js'
import {measureCalls, median, percentile, positiveInt, round, startAgentsHost} from './lib.js'
import {startProfiler} from './profiler.js'
import {ACTIVATION_OPERATIONS, HANDSHAKE_OPERATIONS, floorCost, measureSignatures} from './signature-floor.js'

export const name = 'activation'

const WARMUP_AGENTS = 4 // activated untimed first: lazy imports (node-forge), JIT, statement caches
const GOAL_X_REF_CPU = 2.5

export async function run({
  root,
  quick = false,
  agents = positiveInt(process.env.TETHER_BENCH_AGENTS, quick ? 24 : 200),
  concurrencies = (process.env.TETHER_BENCH_CONCURRENCY ?? '1,16').split(',').map((c) => positiveInt(c, 1)),
  profileDir = process.env.TETHER_BENCH_MANAGER_PROFILE || undefined,
}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-activation-'))
  const hosts = new Set()
  let context
  // Interrupted (Ctrl-C, kill): finally blocks do not run, so clean up here and exit.
  const interrupted = (signal) => {
    for (const host of hosts) host.kill()
    fs.rmSync(work, {recursive: true, force: true})
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  try {
    // Before anything else runs: openssl speed wants the machine to itself.
    const floor = measureSignatures(quick ? 1 : 2)
    if (floor.error) console.log(`activation: signature floor not measured: ${floor.error}`)
    else {
      const act = floorCost(floor, ACTIVATION_OPERATIONS)
      const f = (ms) => `${round(ms, 3)} ms`
      console.log(`activation: signature floor (${floor.version}, openssl speed -seconds ${floor.seconds}): RSA-2048 sign ${f(floor[2048].signMs)}, verify ${f(floor[2048].verifyMs)}; RSA-3072 sign ${f(floor[3072].signMs)}, verify ${f(floor[3072].verifyMs)}; per activation 2 RSA-2048 + 1 RSA-3072 signatures = ${f(act.signMs)}, ${f(act.allMs)} with its 4 verifications (a CRL, when issued, is 1 RSA-3072 signature more)`)
    }

    if (profileDir) console.log('activation: profiling on: the activation rows carry the profiler\'s overhead (the reference rows do not), so x_ref_cpu reads high; measure without TETHER_BENCH_MANAGER_PROFILE')
    const pool = await keyPool(root, concurrencies.length * (agents + WARMUP_AGENTS))
    const home = await initManagerHome(path.join(work, 'manager'), {hostnames: ['localhost', '127.0.0.1']})
    context = await home.open()
    const {credentials} = context

    const reference = handshakeReference(credentials)
    const keptReference = handshakeReference(credentials, {keptContext: true})
    const activate = activation(context)

    const rows = []
    let activated = 0
    for (const concurrency of concurrencies) {
      const host = await startAgentsHost(root, path.join(work, `c${concurrency}`), agents + WARMUP_AGENTS, {file: pool.file, offset: pool.take(agents + WARMUP_AGENTS)})
      hosts.add(host)
      const warm = host.agents.slice(0, WARMUP_AGENTS)
      const timed = host.agents.slice(WARMUP_AGENTS)
      for (const target of warm) {
        await reference(target)
        await keptReference(target)
        await activate(target)
      }

      // References first (they need the agents still in bootstrap state), then the activations.
      const ref = await measureCalls(timed, concurrency, reference)
      const kept = await measureCalls(timed, concurrency, keptReference)
      const profiler = profileDir ? await startProfiler() : undefined
      const act = await measureCalls(timed, concurrency, activate)
      if (profiler) console.log(`activation: CPU profile of the timed activations at c${concurrency}: ${await profiler.stop(path.join(profileDir, `activation-c${concurrency}.cpuprofile`))}`)
      activated += warm.length + timed.length
      const recorded = await context.store.computers.count()
      if (recorded !== activated) throw new Error(`the registry holds ${recorded} computers, expected ${activated}`)

      rows.push(
        row('handshake+GetHostInfo (ref)', agents, concurrency, ref, ref, kept, floorOf(floor, HANDSHAKE_OPERATIONS)),
        row('handshake+GetHostInfo, kept context (ref)', agents, concurrency, kept, ref, kept, floorOf(floor, HANDSHAKE_OPERATIONS)),
        row('activation', agents, concurrency, act, ref, kept, floorOf(floor, ACTIVATION_OPERATIONS)),
      )
      await host.stop()
      hosts.delete(host)
    }

    return rows
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    await Promise.allSettled([...hosts].map((host) => host.stop()))
    await context?.close()
    fs.rmSync(work, {recursive: true, force: true})
  }
}

/**
 * The reference call: one TLS handshake with the manager's certificate offered, and one GetHostInfo.
 * Plain Node, nothing of tether's (as the heartbeat's node-tls reference): tls.connect with the PEMs
 * (a context per connection) and Node's http client over the socket, gzip JSON both ways. With
 * `keptContext`, tether's own client instead: connectTls (its kept context) and HttpSession.
 */
export function handshakeReference(credentials, {keptContext = false} = {}) {
  const options = {cert: credentials.managerCertPem, key: credentials.managerKeyPem, rejectUnauthorized: false}
  return async (target) => {
    if (!keptContext) {
      const socket = await plainConnect({host: target.host, port: target.port, ...options})
      try {
        const status = await plainGetHostInfo(socket)
        if (status !== 200) throw new Error(`GetHostInfo at ${target.host}:${target.port} answered ${status}`)
      } finally {
        socket.destroy()
      }

      return
    }

    const session = new HttpSession(await connectTls({host: target.host, port: target.port, ...options}))
    try {
      const reply = await session.call('GetHostInfo')
      if (reply.status !== 200) throw new Error(`GetHostInfo at ${target.host}:${target.port} answered ${reply.status}`)
    } finally {
      session.close()
    }
  }
}

function plainConnect(options) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({...TLS_POLICY, ...options})
    socket.setNoDelay(true)
    socket.once('secureConnect', () => resolve(socket))
    socket.once('error', reject)
  })
}

const EMPTY_BODY = zlib.gzipSync(Buffer.from('{}'), {level: 6})
const REFERENCE_HEADERS = {'content-type': 'application/json', 'content-encoding': 'gzip', 'accept-encoding': 'gzip', 'content-length': EMPTY_BODY.length, connection: 'keep-alive'}

/** POST /GetHostInfo by Node's http client over an open socket; resolves to the status once the gzip JSON reply is parsed. */
function plainGetHostInfo(socket) {
  return new Promise((resolve, reject) => {
    const request = http.request({createConnection: () => socket, method: 'POST', path: '/GetHostInfo', host: 'agent', headers: REFERENCE_HEADERS}, (response) => {
      const chunks = []
      response.on('data', (chunk) => chunks.push(chunk))
      response.once('end', () => {
        try {
          JSON.parse(zlib.gunzipSync(Buffer.concat(chunks)).toString('utf8'))
          resolve(response.statusCode)
        } catch (error) {
          reject(error)
        }
      })
    })
    request.on('error', reject)
    request.end(EMPTY_BODY)
  })
}

/** One manager-initiated activation of a bootstrap agent; throws unless it ends activated. Resolves to the computer. */
export function activation(context) {
  return async (target) => {
    const {computer, alreadyActivated} = await activateAgent(context, `${target.host}:${target.port}`)
    if (alreadyActivated || computer.state !== 'activated') {
      throw new Error(`activation of ${target.host}:${target.port} ended as ${computer.state}${alreadyActivated ? ' (already activated)' : ''}`)
    }

    return computer
  }
}

const floorOf = (floor, operations) => (floor.error ? undefined : floorCost(floor, operations).allMs)

function row(operation, agents, concurrency, m, ref, kept, floorMs) {
  const cpuPerOp = m.cpuMs / m.count
  const refCpuPerOp = ref.cpuMs / ref.count
  const xRefCpu = cpuPerOp / refCpuPerOp
  return {
    operation,
    agents,
    concurrency,
    total_s: round(m.wallMs / 1000, 2),
    per_s: round(m.count / (m.wallMs / 1000), 1),
    median_ms: round(median(m.latencies), 1),
    p99_ms: round(percentile(m.latencies, 99), 1),
    mgr_cpu_ms_per_op: round(cpuPerOp, 2),
    x_ref_median: round(median(m.latencies) / median(ref.latencies), 2),
    x_ref_cpu: round(xRefCpu, 2),
    x_kept_ref_cpu: round(cpuPerOp / (kept.cpuMs / kept.count), 2),
    sig_floor_ms: floorMs === undefined ? 'n/a' : round(floorMs, 2),
    x_sig_floor: floorMs === undefined ? 'n/a' : round(cpuPerOp / floorMs, 2),
    goal: m === ref || m === kept ? '-' : `${xRefCpu <= GOAL_X_REF_CPU ? 'met' : 'missed'} (cpu <=${GOAL_X_REF_CPU}x ref)`,
  }
}
