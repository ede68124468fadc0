// Heartbeats one manager (`tether manager start`, its own process) sustains from simulated
// activated agents over mutual TLS, with and without TLS session resumption: above all the
// server's CPU per heartbeat (the client saturates a core, so the rate alone says little), beside
// two references on the same certificates, TLS policy, client and concurrency:
//  - node-tls (reference): bench/node-tls-server.js, a bare Node TLS server in its own process
//    doing the manager's mutual-TLS handshake (chain, CA, CRL) and one HTTP exchange as the
//    manager does (it is HTTP client: POST /GetAgentStatus, gzip JSON both ways), no store: the
//    floor for a Node implementation (issue 15's goal: tether at most 1.3x its CPU per heartbeat);
//  - nginx (reference): ssl_verify_client on against the manager's CA and CRL; to nginx the agent
//    is an ordinary HTTP client (one request, `Connection: close`, nginx closes), installed with
//    apt-get here if missing, skipped with a printed note where it cannot be had.
// Then 2 workers: nginx `worker_processes 2`, and `tether manager start --workers 2` when its
// --help lists --workers (skipped with a note before that exists). The 2-worker tether manager runs
// on a copy of the home (one manager per home; same CA, same computers), so every row of a level
// runs interleaved with the others and a change in the machine's load hits them alike.
//
// Setup, untimed: a manager home (CA), AGENTS agents activated for real (bench/fleet.js, keys from
// the pool of bench/key-pool.js), their host stopped and the registry closed before the manager
// opens it. The simulated agents are bench/heartbeat-client.js, a separate process; before each
// row it sends one untimed heartbeat per agent (warm-up, and every agent's first session ticket).
//
// Knobs: TETHER_BENCH_AGENTS (default 100, quick 20), TETHER_BENCH_HEARTBEATS per row (default
// 3000, quick 600), TETHER_BENCH_HEARTBEAT_CONCURRENCY (default "32"; a list gives rows per level),
// TETHER_BENCH_RESUMPTION (default "off,on": rows without, then with, session resumption; one of
// them alone gives a profile of one scenario), TETHER_BENCH_REFERENCE=off skips nginx,
// TETHER_BENCH_MANAGER_PROFILE=DIR writes the 1-worker manager's V8 CPU profile there
// (node --cpu-prof, written when it exits) to find its hot spots (bench/PROFILE.md).
//
// Columns: reused_pct = timed heartbeats whose TLS session was resumed; cmds_per_hb = HTTP
// exchanges per heartbeat (the manager's GetAgentStatus, GetAgentEvents, ...; 1 for the
// references); srv_* = the server's process tree, from /proc: CPU per heartbeat over the timed
// part, resident memory at its start and its peak (sampled every 50 ms); x_node_tls_cpu and
// x_nginx_cpu = srv_cpu_ms_per_hb over that reference's with the same resumption, concurrency and
// (for nginx) worker count; x_1w_cpu / x_1w_rate = a 2-worker row over the same server's 1-worker
// row; client_cpu_pct = the client's CPU over the wall time (near 100: the client was the limit).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import Database from 'better-sqlite3'

import {TLS_POLICY} from '../dist/channel/tls.js'
import {activatedFleet} from './fleet.js'
import {perHeartbeat, runClient} from './heartbeat-runner.js'
import {keyPool} from './key-pool.js'
import {positiveInt, round} from './lib.js'
import {ensureNginx, startNginx} from './nginx.js'
import {procSample} from './processes.js'
import {managerSupportsWorkers, startManager, startNodeTls} from './servers.js'

export const name = 'heartbeat'

const GOAL_X_NODE_TLS = 1.3
const GOAL_X_1W_CPU = 1.15

export async function run({
  root,
  quick = false,
  agents = positiveInt(process.env.TETHER_BENCH_AGENTS, quick ? 20 : 100),
  heartbeats = positiveInt(process.env.TETHER_BENCH_HEARTBEATS, quick ? 600 : 3000),
  concurrencies = (process.env.TETHER_BENCH_HEARTBEAT_CONCURRENCY ?? '32').split(',').map((c) => positiveInt(c, 32)),
  resumptions = (process.env.TETHER_BENCH_RESUMPTION ?? 'off,on').split(',').map(onOff),
  reference = process.env.TETHER_BENCH_REFERENCE !== 'off',
  profileDir = process.env.TETHER_BENCH_MANAGER_PROFILE || undefined,
}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-heartbeat-'))
  const processes = new Set() // everything started here, each with stop() and kill()
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
    // The reference first: installing it may take a while, and must not sit inside any timing.
    const nginxBin = reference ? ensureNginx() : note('reference (nginx) skipped: TETHER_BENCH_REFERENCE=off')
    const fleet = await activatedFleet({root, work, count: agents, pool: await keyPool(root, agents), track})
    const {home} = fleet

    // One worker said explicitly: the default is one per core.
    const workersFlag = managerSupportsWorkers(root)
    const homes = [home.dir, ...(workersFlag ? [copyHome(home.dir, path.join(work, 'manager-2w'))] : [])]
    const manager = track.started(await startManager(root, home.dir, {profileDir, workers: workersFlag ? 1 : undefined}))
    const servers = [{server: 'tether manager', workers: 1, agentServes: true, handle: manager}]
    servers.push({server: 'node-tls (reference)', workers: 1, agentServes: true, handle: track.started(await startNodeTls(root, path.join(work, 'node-tls'), {home, crlFile: fleet.crl.file, tls: TLS_POLICY}))})
    if (nginxBin) {
      for (const workers of [1, 2]) {
        try {
          const handle = track.started(await startNginx(nginxBin, path.join(work, `nginx-${workers}`), home, {workers, crlFile: fleet.crl.file}))
          servers.push({server: 'nginx (reference)', workers, agentServes: false, handle})
        } catch (error) {
          note(`reference (nginx, ${workers} worker${workers > 1 ? 's' : ''}) skipped: it did not start: ${error.message}`)
        }
      }
    }

    if (workersFlag) servers.push({server: 'tether manager', workers: 2, agentServes: true, handle: track.started(await startManager(root, homes[1], {workers: 2}))})
    else note('tether manager with 2 workers skipped: `tether manager start --help` lists no --workers flag yet (issue 15)')

    const idleRss = procSample(manager.pids()).rssKb
    const firstTimedAt = new Date().toISOString()
    const results = []
    const measure = async (s, concurrency, resume) => {
      const config = {...fleet.client, target: `${s.server}${s.workers > 1 ? ` ${s.workers}w` : ''}`, agentServes: s.agentServes, host: s.handle.host, port: s.handle.port, count: heartbeats, concurrency, resume}
      results.push({...s, concurrency, resume, m: await runClient(root, work, config, s.handle.pids, track, note)})
    }

    for (const concurrency of concurrencies) {
      for (const resume of resumptions) {
        for (const s of servers) await measure(s, concurrency, resume)
      }
    }

    const finalRss = procSample(manager.pids()).rssKb
    await track.stopped(manager) // writes the CPU profile, if asked for
    note(`manager RSS (1 worker): ${mb(idleRss)} MB idle after start, ${mb(finalRss)} MB after its last row`)

    for (const p of [...processes]) await track.stopped(p)

    // Each manager recorded a heartbeat from every agent (last seen moved on), not just answered.
    for (const dir of homes) {
      const registry = new Database(path.join(dir, path.basename(home.file('database'))), {readonly: true})
      try {
        const seen = registry.prepare('SELECT count(*) AS n FROM computers WHERE last_seen_at >= ?').get(firstTimedAt).n
        if (seen !== agents) throw new Error(`only ${seen} of ${agents} computers show a heartbeat in the registry of ${dir}`)
      } finally {
        registry.close()
      }
    }

    note('roles: tether and node-tls = TLS server and HTTP client (over the agent\'s connection the server sends GetAgentStatus (tether: then GetAgentEvents, ...: cmds_per_hb) and closes); nginx = TLS server and HTTP server (the agent sends one request, nginx closes)')
    return results.map((r) => row(r, results, agents))
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    await Promise.allSettled([...processes].map((p) => p.stop()))
    fs.rmSync(work, {recursive: true, force: true})
  }
}

/** A copy of a manager home (closed), private as the original; lock files are not copied. */
function copyHome(from, to) {
  fs.cpSync(from, to, {recursive: true, filter: (file) => !/\.lock(\.pid)?$/.test(file)})
  fs.chmodSync(to, 0o700)
  return to
}

function onOff(text) {
  if (text !== 'off' && text !== 'on') throw new Error(`TETHER_BENCH_RESUMPTION: expected "off", "on" or "off,on", got "${text}"`)
  return text === 'on'
}

function note(text) {
  console.log(`heartbeat: ${text}`)
  return undefined
}

const mb = (kb) => round(kb / 1024, 1)
const ratio = (a, b) => (b ? round(a / b, 2) : 'n/a')

function row(r, all, agents) {
  const find = (server, workers) => all.find((o) => o.server === server && o.workers === workers && o.concurrency === r.concurrency && o.resume === r.resume)
  const own = perHeartbeat(r.m)
  const nodeTls = find('node-tls (reference)', 1)
  const nginx = find('nginx (reference)', r.workers) ?? find('nginx (reference)', 1)
  const oneWorker = r.workers > 1 ? find(r.server, 1) : undefined
  const x = (other) => (other ? ratio(own.cpuMs, perHeartbeat(other.m).cpuMs) : 'n/a')
  const xNodeTls = x(nodeTls)
  let goal = '-'
  if (r.server === 'tether manager' && r.workers === 1) goal = typeof xNodeTls === 'number' ? `${xNodeTls <= GOAL_X_NODE_TLS ? 'met' : 'missed'} (<=${GOAL_X_NODE_TLS}x node-tls)` : 'n/a'
  if (r.server === 'tether manager' && oneWorker) {
    const one = perHeartbeat(oneWorker.m)
    goal = `${own.cpuMs <= GOAL_X_1W_CPU * one.cpuMs && own.perS >= one.perS ? 'met' : 'missed'} (cpu <=${GOAL_X_1W_CPU}x, rate >=1x of 1 worker)`
  }

  return {
    server: r.server,
    workers: r.workers,
    resumption: r.resume ? 'on' : 'off',
    reused_pct: round(own.reusedPct, 1),
    agents,
    concurrency: r.concurrency,
    heartbeats: r.m.result.ok,
    failed: r.m.result.failed,
    cmds_per_hb: round(own.commands, 1),
    per_s: round(own.perS, 1),
    median_ms: round(own.medianMs, 2),
    p99_ms: round(own.p99Ms, 2),
    srv_cpu_ms_per_hb: round(own.cpuMs, 3),
    x_node_tls_cpu: xNodeTls,
    x_nginx_cpu: x(nginx),
    x_1w_cpu: oneWorker ? x(oneWorker) : '-',
    x_1w_rate: oneWorker ? ratio(own.perS, perHeartbeat(oneWorker.m).perS) : '-',
    goal,
    srv_rss_mb: mb(r.m.rssStartKb),
    srv_rss_peak_mb: mb(r.m.rssPeakKb),
    client_cpu_pct: round(own.clientCpuPct, 0),
    tls: `${r.m.result.protocol} ${r.m.result.cipher}`,
  }
}
