// Heartbeats per second that one manager (`tether manager start`, its own process) sustains from
// simulated activated agents over mutual TLS: median and p99 latency, with and without TLS session
// resumption, the manager's CPU per heartbeat and its resident memory.
//
// Setup, untimed: a manager home (CA), AGENTS agents hosted by bench/agents-host.js and activated
// for real (manager-initiated, so each holds a CA-issued certificate the registry knows), then
// the agents' host is stopped (only their dsa_core files are needed) and the registry closed
// before `tether manager start` opens it. The simulated agents are bench/heartbeat-client.js, a
// separate process, so the manager's CPU and memory are its own.
//
// Reference, in the same run, on the same certificates, by the same client at the same
// concurrency and count: nginx with client-certificate verification (ssl_verify_client on against
// the manager's CA, the manager's certificate and key), installed with apt-get here if missing.
// Roles differ, and the table says so: to the manager the agent is HTTP *server* on its own
// outbound connection (the manager sends GetAgentStatus and closes), to nginx the agent is an
// ordinary HTTP client (one request with `Connection: close`, nginx closes). Where nginx cannot be
// installed the reference rows are skipped with a printed note.
//
// Knobs: TETHER_BENCH_AGENTS (default 100), TETHER_BENCH_HEARTBEATS per row (default 3000),
// TETHER_BENCH_HEARTBEAT_CONCURRENCY (default "32"; a list gives rows per level),
// TETHER_BENCH_REFERENCE=off skips nginx, TETHER_BENCH_MANAGER_PROFILE=DIR writes the manager's
// V8 CPU profile there (node --cpu-prof) to look for its hot spots. Before each row the client
// sends one untimed heartbeat per agent (warm-up, and every agent's first session ticket).
//
// Columns: reused_pct = timed heartbeats whose TLS session was resumed; cmds_per_hb = HTTP
// exchanges per heartbeat (the manager's GetAgentStatus, GetAgentEvents, ...; 1 for nginx);
// srv_* = the server process(es), from /proc: CPU per heartbeat over the timed part, resident
// memory at its start and its peak (sampled every 50 ms); client_cpu_pct = the client's CPU
// over the wall time (near 100 means the client, not the server, was the limit); x_nginx_* =
// this row against the nginx row with the same resumption and concurrency.
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import Database from 'better-sqlite3'

import {activate as activateAgent} from '../dist/manager/manager-initiated.js'
import {TLS_CIPHERS, TLS_CURVES, TLS_POLICY} from '../dist/channel/tls.js'
import {initManagerHome} from '../dist/manager/home.js'
import {fingerprint, parseCertificate} from '../dist/pki/certificate.js'
import {mapConcurrent, onJsonLines, positiveInt, round, startAgentsHost} from './lib.js'

export const name = 'heartbeat'

const ACTIVATION_CONCURRENCY = 8
const CLIENT_TIMEOUT_MS = 600_000
const RSS_SAMPLE_MS = 50

export async function run({
  root,
  agents = positiveInt(process.env.TETHER_BENCH_AGENTS, 100),
  heartbeats = positiveInt(process.env.TETHER_BENCH_HEARTBEATS, 3000),
  concurrencies = (process.env.TETHER_BENCH_HEARTBEAT_CONCURRENCY ?? '32').split(',').map((c) => positiveInt(c, 32)),
  reference = process.env.TETHER_BENCH_REFERENCE !== 'off',
}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-heartbeat-'))
  const processes = new Set() // everything started here, each with stop() and kill()
  let context
  const interrupted = (signal) => {
    for (const p of processes) p.kill()
    fs.rmSync(work, {recursive: true, force: true})
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  const started = (p) => {
    processes.add(p)
    return p
  }
  const stopped = async (p) => {
    await p.stop()
    processes.delete(p)
  }

  try {
    // The reference first: installing it may take a while, and must not sit inside any timing.
    const nginxBin = reference ? ensureNginx() : note('reference (nginx) skipped: TETHER_BENCH_REFERENCE=off')

    // Activated agents, for real. The registry is closed before the manager process opens it.
    const home = await initManagerHome(path.join(work, 'manager'), {hostnames: ['localhost', '127.0.0.1']})
    context = await home.open()
    const host = started(await startAgentsHost(root, path.join(work, 'agents'), agents))
    // The hostname each computer was recorded with: a simulated agent must report it, or it is a clone.
    const hostnames = new Map()
    await mapConcurrent(host.agents, ACTIVATION_CONCURRENCY, async (target) => {
      const {computer, alreadyActivated} = await activateAgent(context, `${target.host}:${target.port}`)
      if (alreadyActivated || computer.state !== 'activated') throw new Error(`activation of ${target.host}:${target.port} ended as ${computer.state}`)
      hostnames.set(target.dsaCore, computer.hostname)
    })
    const agentFiles = host.agents.map((target) => {
      const cert = path.join(target.dsaCore, 'ds_agent.crt')
      const key = path.join(target.dsaCore, 'ds_agent.key')
      if (!fs.existsSync(cert) || !fs.existsSync(key)) throw new Error(`the activated agent in ${target.dsaCore} has no ds_agent.crt / ds_agent.key`)
      return {cert, key, hostname: hostnames.get(target.dsaCore), sha256: fingerprint(parseCertificate(fs.readFileSync(cert, 'utf8'), cert))}
    })

    await stopped(host)
    await context.close()
    context = undefined

    const manager = started(await startManager(root, home.dir))
    const tether = {name: 'tether', host: manager.host, port: manager.port, pids: () => [manager.pid]}
    let nginx
    if (nginxBin) {
      try {
        nginx = started(await startNginx(nginxBin, path.join(work, 'nginx'), home))
      } catch (error) {
        note(`reference (nginx) skipped: it did not start: ${error.message}`)
      }
    }

    const idle = {manager: procSample([manager.pid]).rssKb, nginx: nginx ? procSample(nginx.pids()).rssKb : undefined}
    const base = {ca: home.file('caCert'), agents: agentFiles, tls: {minVersion: TLS_POLICY.minVersion, ciphers: TLS_POLICY.ciphers, ecdhCurve: TLS_POLICY.ecdhCurve}}
    const firstTimedAt = new Date().toISOString()
    const results = []
    for (const concurrency of concurrencies) {
      for (const resume of [false, true]) {
        const run = (server) => runClient(root, work, {...base, target: server.name, host: server.host, port: server.port, count: heartbeats, concurrency, resume}, server.pids, started, stopped)
        const t = await run(tether)
        const n = nginx ? await run({name: 'nginx', host: nginx.host, port: nginx.port, pids: nginx.pids}) : undefined
        results.push({concurrency, resume, tether: t, nginx: n})
      }
    }

    const finalRss = {manager: procSample([manager.pid]).rssKb, nginx: nginx ? procSample(nginx.pids()).rssKb : undefined}
    await stopped(manager)
    if (nginx) await stopped(nginx)

    // The manager recorded a heartbeat from every agent (last seen moved on), not just answered.
    const registry = new Database(home.file('database'), {readonly: true})
    try {
      const seen = registry.prepare('SELECT count(*) AS n FROM computers WHERE last_seen_at >= ?').get(firstTimedAt).n
      if (seen !== agents) throw new Error(`only ${seen} of ${agents} computers show a heartbeat in the registry`)
    } finally {
      registry.close()
    }

    note(`manager RSS: ${mb(idle.manager)} MB idle after start, ${mb(finalRss.manager)} MB after the last row` + (nginx ? `; nginx (master + worker): ${mb(idle.nginx)} MB idle, ${mb(finalRss.nginx)} MB after` : ''))
    note('roles: tether = the manager is TLS server and HTTP client (over the agent\'s connection it sends GetAgentStatus, GetAgentEvents, ...: cmds_per_hb; then closes); nginx = TLS server and HTTP server (the agent sends one request, nginx closes)')
    const rows = []
    for (const r of results) {
      rows.push(row('tether manager', r, r.tether, r.nginx, agents))
      if (r.nginx) rows.push(row('nginx (reference)', r, r.nginx, r.nginx, agents))
    }

    return rows
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    await Promise.allSettled([...processes].map((p) => p.stop()))
    await context?.close()
    fs.rmSync(work, {recursive: true, force: true})
  }
}

function note(text) {
  console.log(`heartbeat: ${text}`)
  return undefined
}

const mb = (kb) => round(kb / 1024, 1)

function row(server, {concurrency, resume}, m, ref, agents) {
  const perS = m.result.ok / (m.result.wallMs / 1000)
  const refPerS = ref ? ref.result.ok / (ref.result.wallMs / 1000) : undefined
  return {
    server,
    resumption: resume ? 'on' : 'off',
    reused_pct: round((100 * m.result.reused) / Math.max(1, m.result.ok), 1),
    agents,
    concurrency,
    heartbeats: m.result.ok,
    failed: m.result.failed,
    cmds_per_hb: round(m.result.commands / Math.max(1, m.result.ok), 1),
    total_s: round(m.result.wallMs / 1000, 2),
    per_s: round(perS, 1),
    median_ms: round(m.result.medianMs, 2),
    p99_ms: round(m.result.p99Ms, 2),
    srv_cpu_ms_per_hb: round(m.serverCpuMs / Math.max(1, m.result.ok), 3),
    srv_rss_mb: mb(m.rssStartKb),
    srv_rss_peak_mb: mb(m.rssPeakKb),
    client_cpu_pct: round((100 * m.result.cpuMs) / m.result.wallMs, 0),
    x_nginx_rate: refPerS ? round(perS / refPerS, 2) : 'n/a',
    x_nginx_median: ref ? round(m.result.medianMs / ref.result.medianMs, 2) : 'n/a',
    tls: `${m.result.protocol} ${m.result.cipher}`,
  }
}

// ---------------------------------------------------------------------------------------------
// The simulated agents' process.

let clientSeq = 0

/** Run bench/heartbeat-client.js once; sample the server's CPU and memory around its timed part. */
async function runClient(root, work, config, serverPids, started, stopped) {
  const file = path.join(work, `client-${clientSeq++}.json`)
  fs.writeFileSync(file, JSON.stringify(config))
  const child = spawn(process.execPath, [path.join(root, 'bench', 'heartbeat-client.js'), file], {stdio: ['pipe', 'pipe', 'inherit']})
  const handle = started(childHandle(child))
  let sampler
  try {
    return await new Promise((resolve, reject) => {
      let before
      let peakKb = 0
      const timer = setTimeout(() => reject(new Error(`heartbeat client (${config.target}) did not finish within ${CLIENT_TIMEOUT_MS / 1000} s`)), CLIENT_TIMEOUT_MS)
      onJsonLines(child.stdout, (message) => {
        if (message.phase === 'warm') {
          if (message.failed > 0) note(`${config.target} warm-up: ${message.failed} of ${config.agents.length} failed: ${JSON.stringify(message.errors)}`)
          before = procSample(serverPids())
          peakKb = before.rssKb
          sampler = setInterval(() => {
            peakKb = Math.max(peakKb, procSample(serverPids()).rssKb)
          }, RSS_SAMPLE_MS)
          child.stdin.write('go\n')
        } else if (message.phase === 'done') {
          const after = procSample(serverPids())
          clearTimeout(timer)
          if (message.failed > 0) note(`${config.target}${config.resume ? ' (resumption)' : ''}: ${message.failed} of ${config.count} heartbeats failed: ${JSON.stringify(message.errors)}`)
          if (message.ok === 0) reject(new Error(`every ${config.target} heartbeat failed: ${JSON.stringify(message.errors)}`))
          resolve({result: message, serverCpuMs: after.cpuMs - before.cpuMs, rssStartKb: before.rssKb, rssPeakKb: Math.max(peakKb, after.rssKb)})
        } else if (message.phase === 'error') {
          clearTimeout(timer)
          reject(new Error(`heartbeat client (${config.target}): ${message.message}`))
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`heartbeat client (${config.target}) exited (${signal ?? code}) before it finished`))
      })
    })
  } finally {
    clearInterval(sampler)
    child.stdin.end()
    await stopped(handle)
  }
}

// ---------------------------------------------------------------------------------------------
// The manager: `tether manager start`, its own process.

async function startManager(root, home) {
  const profile = process.env.TETHER_BENCH_MANAGER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.TETHER_BENCH_MANAGER_PROFILE)}`] : []
  const child = spawn(process.execPath, [...profile, path.join(root, 'bin', 'run.js'), 'manager', 'start', '--home', home, '--port', '0', '--host', '127.0.0.1', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const handle = childHandle(child)
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  try {
    const ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('tether manager start did not report listening within 60 s')), 60_000)
      onJsonLines(child.stdout, (message) => {
        if (message.event === 'listening') {
          clearTimeout(timer)
          resolve(message)
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`tether manager start exited (${signal ?? code}) before listening: ${stderr.trim()}`))
      })
    })
    if (ready.host !== '127.0.0.1') throw new Error(`the manager listens on ${ready.host}, not 127.0.0.1`)
    return {...handle, host: ready.host, port: ready.port, pid: ready.pid ?? child.pid}
  } catch (error) {
    await handle.stop()
    throw error
  }
}

/** stop(): SIGTERM, SIGKILL after 10 s, resolves once the process is gone; kill(): SIGKILL now. */
function childHandle(child, alsoKill = () => []) {
  const exited = new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  child.once('error', () => undefined)
  return {
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const extra = alsoKill()
        child.kill('SIGTERM')
        const timer = setTimeout(() => {
          child.kill('SIGKILL')
          for (const pid of extra) killQuietly(pid)
        }, 10_000)
        await exited
        clearTimeout(timer)
      }
    },
    kill: () => {
      for (const pid of alsoKill()) killQuietly(pid)
      child.kill('SIGKILL')
    },
  }
}

function killQuietly(pid) {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------------------------
// /proc sampling: CPU time (user + system) and resident memory of a set of processes.

let clockTicks
function ticksPerSecond() {
  if (clockTicks === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], {encoding: 'utf8'})
    clockTicks = Number(out.stdout) > 0 ? Number(out.stdout) : 100
  }

  return clockTicks
}

/** Fields of /proc/PID/stat after the command name: [0] state, [1] ppid, [11] utime, [12] stime. */
function statFields(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

function procSample(pids) {
  let cpuMs = 0
  let rssKb = 0
  for (const pid of pids) {
    const fields = statFields(pid)
    if (fields) cpuMs += ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond()
    try {
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (match) rssKb += Number(match[1])
    } catch {
      // gone
    }
  }

  return {cpuMs, rssKb}
}

function childrenOf(pid) {
  const out = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(entry)
    if (fields && Number(fields[1]) === pid) out.push(Number(entry))
  }

  return out
}

// ---------------------------------------------------------------------------------------------
// The reference: nginx, installed with apt-get when missing.

function findNginx() {
  const found = spawnSync('sh', ['-c', 'command -v nginx || { test -x /usr/sbin/nginx && echo /usr/sbin/nginx; }'], {encoding: 'utf8'})
  const bin = found.stdout.trim().split('\n')[0]
  return found.status === 0 && bin ? bin : undefined
}

/** The nginx binary, installing it with apt-get if needed; undefined (with a printed note) where it cannot be had. */
function ensureNginx() {
  let bin = findNginx()
  if (!bin) {
    const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], {encoding: 'utf8'}).status === 0
    if (!hasApt) return note('reference (nginx) skipped: nginx is not installed and apt-get is not available here')
    if (process.getuid?.() !== 0) return note('reference (nginx) skipped: nginx is not installed, and installing it (apt-get install nginx) needs root')
    note('nginx not found: installing it with apt-get for the reference server')
    const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'nginx'], {encoding: 'utf8', timeout: 600_000, env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'}})
    let result = install()
    if (result.status !== 0) {
      // A stale or missing package list is the usual cause: refresh it once and retry.
      spawnSync('apt-get', ['update'], {encoding: 'utf8', timeout: 600_000, env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'}})
      result = install()
    }

    bin = findNginx()
    if (!bin) {
      const why = (result.stderr || result.stdout || result.error?.message || '').trim().split('\n').at(-1)
      return note(`reference (nginx) skipped: apt-get install nginx failed (exit ${result.status ?? result.signal}): ${why}`)
    }
  }

  const version = spawnSync(bin, ['-V'], {encoding: 'utf8'})
  const build = `${version.stdout}${version.stderr}`
  if (!build.includes('http_ssl_module')) return note(`reference (nginx) skipped: ${bin} was built without the SSL module`)
  return bin
}

async function freePort() {
  const server = net.createServer()
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const {port} = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** nginx in the foreground on 127.0.0.1, the manager's certificate and key, client certificates verified against its CA. */
async function startNginx(bin, dir, home) {
  fs.mkdirSync(dir, {recursive: true})
  const port = await freePort()
  const tls12 = TLS_CIPHERS.split(':').filter((c) => !c.startsWith('TLS_')).join(':')
  const tls13 = TLS_CIPHERS.split(':').filter((c) => c.startsWith('TLS_')).join(':')
  const p = (name) => path.join(dir, name)
  const config = `# generated by bench/heartbeat.js
daemon off;
master_process on;
worker_processes 1;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 1024; }
http {
  access_log ${p('access.log')};
  client_body_temp_path ${p('body')};
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${home.file('managerCert')};
    ssl_certificate_key ${home.file('managerKey')};
    ssl_client_certificate ${home.file('caCert')};
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ${tls12};
    ssl_conf_command Ciphersuites ${tls13};
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve ${TLS_CURVES.replace('P-256', 'prime256v1').replace('P-384', 'secp384r1')};
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    keepalive_timeout 0;
    location / {
      default_type application/json;
      return 200 '{}';
    }
  }
}
`
  fs.writeFileSync(p('nginx.conf'), config)
  // -e: the error log before the configuration is read (else the packaged path under /var/log).
  const child = spawn(bin, ['-p', `${dir}/`, '-c', p('nginx.conf'), '-e', p('error.log')], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  const pids = () => (child.exitCode === null && child.signalCode === null ? [child.pid, ...childrenOf(child.pid)] : [])
  const handle = childHandle(child, () => childrenOf(child.pid))
  try {
    const deadline = Date.now() + 15_000
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = fs.existsSync(p('error.log')) ? fs.readFileSync(p('error.log'), 'utf8') : ''
        throw new Error(`nginx exited (${child.signalCode ?? child.exitCode}): ${(stderr + log).trim().split('\n').slice(-3).join(' | ')}`)
      }

      if (childrenOf(child.pid).length > 0 && (await canConnect(port))) break
      if (Date.now() > deadline) throw new Error('nginx did not accept connections within 15 s')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }

    return {...handle, host: '127.0.0.1', port, pids}
  } catch (error) {
    await handle.stop()
    throw error
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
