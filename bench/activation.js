// Manager-initiated activation throughput, latency and manager CPU per activation, against agents
// on loopback hosted by a separate process (bench/agents-host.js) so `process.cpuUsage()` here is
// the manager's alone. Agent key pairs are generated in that process before the timer starts.
//
// Reference, measured in the same run against the same agents at the same concurrency: one bare
// TLS handshake (the manager's certificate offered, as activation does) plus one GetHostInfo round
// trip. An activation is two handshakes (bootstrap, then mutual-TLS confirmation) and six commands,
// plus a CA signature and registry writes, so the x_ref columns say what the rest costs.
//
// Agents per round: TETHER_BENCH_AGENTS (default 200); concurrency levels: TETHER_BENCH_CONCURRENCY
// (default "1,16"). Each concurrency level gets fresh agents (an agent activates once); one
// manager (CA, registry) serves all levels.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'

import {activate as activateAgent} from '../dist/manager/manager-initiated.js'
import {connectTls} from '../dist/channel/connect.js'
import {HttpSession} from '../dist/channel/http-session.js'
import {initManagerHome} from '../dist/manager/home.js'
import {cpuMsSince, mapConcurrent, median, percentile, positiveInt, round, startAgentsHost} from './lib.js'

export const name = 'activation'

const WARMUP_AGENTS = 4 // activated untimed first: lazy imports (node-forge), JIT, statement caches

export async function run({
  root,
  agents = positiveInt(process.env.TETHER_BENCH_AGENTS, 200),
  concurrencies = (process.env.TETHER_BENCH_CONCURRENCY ?? '1,16').split(',').map((c) => positiveInt(c, 1)),
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
    const home = await initManagerHome(path.join(work, 'manager'), {hostnames: ['localhost', '127.0.0.1']})
    context = await home.open()
    const {credentials} = context

    const reference = async (target) => {
      const socket = await connectTls({host: target.host, port: target.port, cert: credentials.managerCertPem, key: credentials.managerKeyPem, rejectUnauthorized: false})
      const session = new HttpSession(socket)
      try {
        const reply = await session.call('GetHostInfo')
        if (reply.status !== 200) throw new Error(`GetHostInfo at ${target.host}:${target.port} answered ${reply.status}`)
      } finally {
        session.close()
      }
    }

    const activate = async (target) => {
      const {computer, alreadyActivated} = await activateAgent(context, `${target.host}:${target.port}`)
      if (alreadyActivated || computer.state !== 'activated') {
        throw new Error(`activation of ${target.host}:${target.port} ended as ${computer.state}${alreadyActivated ? ' (already activated)' : ''}`)
      }
    }

    const rows = []
    let activated = 0
    for (const concurrency of concurrencies) {
      const host = await startAgentsHost(root, path.join(work, `c${concurrency}`), agents + WARMUP_AGENTS)
      hosts.add(host)
      const warm = host.agents.slice(0, WARMUP_AGENTS)
      const timed = host.agents.slice(WARMUP_AGENTS)
      for (const target of warm) {
        await reference(target)
        await activate(target)
      }

      // Reference first (it needs the agents still in bootstrap state), then the activations.
      const ref = await measure(timed, concurrency, reference)
      const act = await measure(timed, concurrency, activate)
      activated += warm.length + timed.length
      const recorded = await context.store.computers.count()
      if (recorded !== activated) throw new Error(`the registry holds ${recorded} computers, expected ${activated}`)

      rows.push(row('handshake+GetHostInfo (ref)', agents, concurrency, ref, ref), row('activation', agents, concurrency, act, ref))
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

/** Run `fn` once per target with `concurrency` in flight: wall time, per-call latency, CPU of this process. */
async function measure(targets, concurrency, fn) {
  const latencies = new Array(targets.length)
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  await mapConcurrent(targets, concurrency, async (target, i) => {
    const t0 = performance.now()
    await fn(target)
    latencies[i] = performance.now() - t0
  })
  const wallMs = performance.now() - start
  return {count: targets.length, wallMs, cpuMs: cpuMsSince(cpuStart), latencies}
}

function row(operation, agents, concurrency, m, ref) {
  const cpuPerOp = m.cpuMs / m.count
  const refCpuPerOp = ref.cpuMs / ref.count
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
    x_ref_cpu: round(cpuPerOp / refCpuPerOp, 2),
  }
}
