// The SQLite registry at scale (issues 14 and 15): `tether manager computers list`, text and
// --json, with COMPUTERS computers (wall time and peak RSS of the process; goal: under 2 s), and
// heartbeat and activation latency with that registry against an almost empty one, same run
// (goal: at most 1.2x).
//
// Order: a home with a small fleet activated for real (bench/fleet.js: the agents whose
// heartbeats are measured; "empty" = the registry holds only them); heartbeats through
// `tether manager start` (its own process) and activations (manager-initiated, from this process,
// while that manager runs on the same home, so its poller and listener are part of what the
// registry's size may slow down) on it; then the registry filled to COMPUTERS: a sample through
// the store interface (reserve, certificates.record, recordActivation per computer, each an
// atomic operation of its own: the rate is reported, extrapolated), the rest with
// bench/seed-registry.js (better-sqlite3 straight on the file, one transaction); the lists; the
// same heartbeats and activations again.
//
// Knobs: TETHER_BENCH_REGISTRY_COMPUTERS (default 100000, quick 20000), TETHER_BENCH_AGENTS (the
// heartbeat fleet, default 32, quick 16), TETHER_BENCH_HEARTBEATS (default 2000, quick 400),
// at concurrency 8 (latency, not queueing), each run stopped after HEARTBEAT_SECONDS (90, quick 30)
// if the manager is too slow to finish them (the rows say how many were timed). TETHER_BENCH_MANAGER_PROFILE=DIR: V8 CPU profiles of
// the manager process in each phase, DIR/registry-empty/ and DIR/registry-COMPUTERS/.
import {spawn} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'

import {activate as activateAgent} from '../dist/manager/manager-initiated.js'
import {activatedFleet} from './fleet.js'
import {perHeartbeat, runClient} from './heartbeat-runner.js'
import {keyPool} from './key-pool.js'
import {cpuMsSince, median, percentile, positiveInt, round, startAgentsHost} from './lib.js'
import {peakRssKb} from './processes.js'
import {seedComputers, templateOf} from './seed-registry.js'
import {startManager} from './servers.js'

export const name = 'registry'

const GOAL_LIST_MS = 2000
const GOAL_X_EMPTY = 1.2
const CONCURRENCY = 8
const WARMUP_ACTIVATIONS = 2

export async function run({
  root,
  quick = false,
  computers = positiveInt(process.env.TETHER_BENCH_REGISTRY_COMPUTERS, quick ? 20_000 : 100_000),
  agents = positiveInt(process.env.TETHER_BENCH_AGENTS, quick ? 16 : 32),
  heartbeats = positiveInt(process.env.TETHER_BENCH_HEARTBEATS, quick ? 400 : 2000),
  activations = quick ? 8 : 24,
  storeSample = quick ? 500 : 2000,
  listRuns = quick ? 1 : 2,
  heartbeatSeconds = quick ? 30 : 90,
  profileDir = process.env.TETHER_BENCH_MANAGER_PROFILE || undefined,
}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-registry-'))
  const processes = new Set()
  const interrupted = (signal) => {
    for (const p of processes) p.kill()
    fs.rmSync(work, {recursive: true, force: true})
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  const track = {
    started: (p) => {
      processes.add(p)
      return p
    },
    stopped: async (p) => {
      await p.stop()
      processes.delete(p)
    },
  }

  try {
    const activationAgents = activations + WARMUP_ACTIVATIONS
    const pool = await keyPool(root, agents + 2 * activationAgents)
    const fleet = await activatedFleet({root, work, count: agents, pool, track})
    const {home} = fleet
    // The registry holds exactly `computers` for the lists and the second phase's heartbeats: the
    // fleet, the first phase's activations, the store sample and the fill.
    const fill = computers - agents - activationAgents - storeSample
    if (fill < 0) throw new Error(`TETHER_BENCH_REGISTRY_COMPUTERS=${computers} is fewer than the ${computers - fill} computers the run activates or samples`)

    const phase = async (label) => {
      const manager = track.started(await startManager(root, home.dir, {profileDir: profileDir && path.join(profileDir, `registry-${label}`)}))
      const beats = []
      for (const resume of [false, true]) {
        const config = {...fleet.client, target: `tether manager (${label})`, agentServes: true, host: manager.host, port: manager.port, count: heartbeats, concurrency: CONCURRENCY, resume, maxSeconds: heartbeatSeconds}
        const m = await runClient(root, work, config, manager.pids, track, note)
        if (m.result.skipped > 0) note(`${label} computers, resumption ${resume ? 'on' : 'off'}: ${m.result.ok} of ${heartbeats} heartbeats timed within ${heartbeatSeconds} s, the rest skipped`)
        beats.push({resume, ok: m.result.ok, failed: m.result.failed, ...perHeartbeat(m)})
      }

      const activation = await activationLatency(root, work, home, activationAgents, pool, track, label)
      await track.stopped(manager)
      return {beats, activation}
    }

    const empty = await phase('empty')

    // Fill: the store interface on a sample, then straight SQL for the rest.
    const context = await home.open()
    let storeMs
    try {
      storeMs = await seedThroughStore(context, storeSample)
    } finally {
      await context.close()
    }

    const directMs = seedComputers(home.file('database'), fill, templateOf(home.file('database')), {first: storeSample})
    const lists = []
    for (const l of [{measure: 'computers list --json', args: ['--json'], json: true}, {measure: 'computers list (text)', args: [], json: false}]) {
      lists.push({...l, ...(await measureList(root, home.dir, l, computers, listRuns))})
    }

    // What every command pays before it lists anything: node, oclif, the home's store opened.
    const startup = await measureStartup(root, home.dir, listRuns)
    note(`seeding ${computers} computers would take ${round(((storeMs / storeSample) * computers) / 1000, 1)} s through the store interface (${round(storeMs / storeSample, 3)} ms per computer, measured on ${storeSample}), ${round(((directMs / fill) * computers) / 1000, 1)} s with bench/seed-registry.js`)
    const full = await phase(`${computers}`)
    const rows = [
      {measure: `seed: store interface (${storeSample} computers, 3 operations each)`, computers: storeSample, runs: 1, wall_ms: round(storeMs, 0), cpu_ms: '-', median_ms: round(storeMs / storeSample, 3), p99_ms: '-', srv_cpu_ms_per_op: '-', peak_rss_mb: '-', x_empty: '-', goal: '-'},
      {measure: 'seed: bench/seed-registry.js (one transaction)', computers: fill, runs: 1, wall_ms: round(directMs, 0), cpu_ms: '-', median_ms: round(directMs / fill, 4), p99_ms: '-', srv_cpu_ms_per_op: '-', peak_rss_mb: '-', x_empty: '-', goal: '-'},
      ...lists.map((l) => ({measure: l.measure, computers, runs: listRuns, wall_ms: round(l.wallMs, 0), cpu_ms: l.cpuMs, median_ms: '-', p99_ms: '-', srv_cpu_ms_per_op: '-', peak_rss_mb: l.peakRssMb, x_empty: '-', goal: goalText(l.wallMs <= GOAL_LIST_MS, `< ${GOAL_LIST_MS / 1000} s`, computers)})),
      {measure: 'reference: manager settings list (start-up)', computers, runs: listRuns, wall_ms: round(startup.wallMs, 0), cpu_ms: startup.cpuMs, median_ms: '-', p99_ms: '-', srv_cpu_ms_per_op: '-', peak_rss_mb: startup.peakRssMb, x_empty: '-', goal: '-'},
    ]
    for (const [i, resume] of [false, true].entries()) {
      const what = `heartbeat, ${resume ? 'resumed' : 'full handshake'} (c${CONCURRENCY})`
      for (const [p, size] of [[empty, agents], [full, computers]]) {
        const b = p.beats[i]
        const x = b.medianMs / empty.beats[i].medianMs
        rows.push({measure: what, computers: size, runs: b.failed ? `${b.ok} (+${b.failed} failed)` : b.ok, wall_ms: '-', cpu_ms: '-', median_ms: round(b.medianMs, 2), p99_ms: round(b.p99Ms, 2), srv_cpu_ms_per_op: round(b.cpuMs, 3), peak_rss_mb: '-', x_empty: round(x, 2), goal: p === full ? goalText(x <= GOAL_X_EMPTY, `median <=${GOAL_X_EMPTY}x empty`, computers) : '-'})
      }
    }

    for (const [p, size] of [[empty, agents], [full, computers]]) {
      const a = p.activation
      const x = a.medianMs / empty.activation.medianMs
      rows.push({measure: 'activation (c1, from this process, manager running)', computers: size, runs: activations, wall_ms: '-', cpu_ms: '-', median_ms: round(a.medianMs, 1), p99_ms: round(a.p99Ms, 1), srv_cpu_ms_per_op: round(a.cpuMs, 2), peak_rss_mb: '-', x_empty: round(x, 2), goal: p === full ? goalText(x <= GOAL_X_EMPTY, `median <=${GOAL_X_EMPTY}x empty`, computers) : '-'})
    }

    return rows
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    await Promise.allSettled([...processes].map((p) => p.stop()))
    fs.rmSync(work, {recursive: true, force: true})
  }
}

function note(text) {
  console.log(`registry: ${text}`)
  return undefined
}

const GOAL_COMPUTERS = 100_000

/** The goals are set at 100,000 computers: at another size a result says only what it can. */
function goalText(met, goal, computers) {
  if (computers === GOAL_COMPUTERS) return `${met ? 'met' : 'missed'} (${goal})`
  return met ? `met at ${computers}; goal is at ${GOAL_COMPUTERS} (${goal})` : `missed already at ${computers} (${goal} at ${GOAL_COMPUTERS})`
}

/** `count` computers recorded the way an activation records them, through the store interface; ms. */
async function seedThroughStore(context, count) {
  const {store} = context
  const template = (await store.computers.list()).find((c) => c.state === 'activated')
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    const guid = crypto.randomUUID().toUpperCase()
    const hostname = `sampled-${String(i).padStart(6, '0')}`
    const serial = crypto.randomBytes(16).toString('hex').toUpperCase()
    const sha256 = crypto.randomBytes(32).toString('hex').toUpperCase().match(/../g).join(':')
    const at = new Date()
    await store.computers.reserve({guid, hostname, unique: false, staleAfterMs: 600_000}, at)
    await store.certificates.record({serial, sha256, subject: `CN=${guid}, OU=agent, O=tether`, notBefore: at.toISOString(), notAfter: new Date(at.getTime() + 397 * 86_400_000).toISOString(), pem: '(synthetic)'}, at)
    await store.computers.recordActivation({guid, hostname, address: `10.255.${(i >> 8) & 255}.${i & 255}:4118`, mode: 'bidirectional', hostInfo: {...template.hostInfo, hostname}, certSerial: serial, certSha256: sha256}, at)
  }

  return performance.now() - start
}

/** Activations at concurrency 1 of fresh agents (their own host process), by this process (the CPU column is its own). */
async function activationLatency(root, work, home, count, pool, track, label) {
  const host = track.started(await startAgentsHost(root, path.join(work, `activate-${label}`), count, {file: pool.file, offset: pool.take(count)}))
  const context = await home.open()
  try {
    const latencies = []
    let cpuMs = 0
    for (const [i, target] of host.agents.entries()) {
      const cpu = process.cpuUsage()
      const t0 = performance.now()
      const {computer} = await activateAgent(context, `${target.host}:${target.port}`)
      const ms = performance.now() - t0
      if (computer.state !== 'activated') throw new Error(`activation of ${target.host}:${target.port} ended as ${computer.state}`)
      if (i < WARMUP_ACTIVATIONS) continue
      latencies.push(ms)
      cpuMs += cpuMsSince(cpu)
    }

    return {medianMs: median(latencies), p99Ms: percentile(latencies, 99), cpuMs: cpuMs / latencies.length}
  } finally {
    await context.close()
    await track.stopped(host)
  }
}

const TIME = '/usr/bin/time'

/** Wall time and CPU (user + system; medians of `runs`) and peak RSS of `tether manager computers list`, its output checked. */
async function measureList(root, home, list, expected, runs) {
  const out = path.join(os.tmpdir(), `tether-bench-list-${process.pid}.out`)
  const walls = []
  const cpus = []
  let peakKb = 0
  try {
    for (let i = 0; i < runs; i++) {
      const {wallMs, cpuMs, rssKb} = await runMeasured([path.join(root, 'bin', 'run.js'), 'manager', 'computers', 'list', '--home', home, ...list.args], out)
      walls.push(wallMs)
      cpus.push(cpuMs)
      peakKb = Math.max(peakKb, rssKb ?? 0)
      const text = fs.readFileSync(out, 'utf8')
      const listed = list.json ? JSON.parse(text).computers.length : text.split('\n').filter((line) => /^\s*\d+\s/.test(line)).length
      if (listed !== expected) throw new Error(`${list.measure} listed ${listed} computers, expected ${expected}`)
    }
  } finally {
    fs.rmSync(out, {force: true})
  }

  const cpuMs = median(cpus)
  return {wallMs: median(walls), cpuMs: Number.isFinite(cpuMs) ? round(cpuMs, 0) : 'n/a', peakRssMb: peakKb ? round(peakKb / 1024, 0) : 'n/a'}
}

/** Wall time, CPU and peak RSS of `tether manager settings list` (medians of `runs`). */
async function measureStartup(root, home, runs) {
  const out = path.join(os.tmpdir(), `tether-bench-startup-${process.pid}.out`)
  const measured = []
  try {
    for (let i = 0; i < runs; i++) measured.push(await runMeasured([path.join(root, 'bin', 'run.js'), 'manager', 'settings', 'list', '--home', home], out))
  } finally {
    fs.rmSync(out, {force: true})
  }

  const cpuMs = median(measured.map((m) => m.cpuMs))
  const peakKb = Math.max(...measured.map((m) => m.rssKb ?? 0))
  return {wallMs: median(measured.map((m) => m.wallMs)), cpuMs: Number.isFinite(cpuMs) ? round(cpuMs, 0) : 'n/a', peakRssMb: peakKb ? round(peakKb / 1024, 0) : 'n/a'}
}

/**
 * Run `node ARGS` with stdout to the file `out`: wall ms and peak RSS, from /usr/bin/time -v where
 * it exists, else from the child's VmHWM in /proc, read every 20 ms until it exits.
 */
async function runMeasured(args, out) {
  const env = {...process.env, NO_COLOR: '1'}
  const fd = fs.openSync(out, 'w')
  try {
    const timed = fs.existsSync(TIME)
    const t0 = performance.now()
    const child = timed ? spawn(TIME, ['-v', process.execPath, ...args], {stdio: ['ignore', fd, 'pipe'], env}) : spawn(process.execPath, args, {stdio: ['ignore', fd, 'pipe'], env})
    let stderr = ''
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-8000)
    })
    let sampledKb = 0
    const sampler = timed ? undefined : setInterval(() => {
      sampledKb = Math.max(sampledKb, peakRssKb(child.pid) ?? 0)
    }, 20)
    const code = await new Promise((resolve, reject) => child.once('error', reject).once('exit', (c, signal) => resolve(signal ?? c)))
    const wallMs = performance.now() - t0
    clearInterval(sampler)
    if (code !== 0) throw new Error(`node ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`)
    const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)
    // The CPU the process used, which on a shared machine says more than its wall time.
    const seconds = (label) => Number(new RegExp(`${label} time \\(seconds\\): ([\\d.]+)`).exec(stderr)?.[1] ?? NaN)
    const cpuMs = timed ? (seconds('User') + seconds('System')) * 1000 : NaN
    return {wallMs, cpuMs, rssKb: timed ? (match ? Number(match[1]) : undefined) : sampledKb || undefined}
  } finally {
    fs.closeSync(fd)
  }
}
