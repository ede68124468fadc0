// Shared measurement helpers for the benchmarks: statistics, tables, and running a command.
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import readline from 'node:readline'

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

export const round = (x, digits = 2) => Number(x.toFixed(digits))

/** Wall time of one child process run to completion, in milliseconds; throws if it fails. */
export function timeCommand(command, args, options = {}) {
  const start = performance.now()
  const result = spawnSync(command, args, {encoding: 'utf8', ...options})
  const ms = performance.now() - start
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`)
  return ms
}

/** Print rows (objects with the same keys) as an aligned table. */
export function printTable(title, rows) {
  if (rows.length === 0) return
  const keys = Object.keys(rows[0])
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length)))
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ')
  console.log(`\n${title}`)
  console.log(line(keys))
  console.log(line(widths.map((w) => '-'.repeat(w))))
  for (const row of rows) console.log(line(keys.map((k) => row[k])))
}

/** Run `fn(item, index)` over items with at most `concurrency` calls in flight; resolves when all finish. */
export async function mapConcurrent(items, concurrency, fn) {
  const results = new Array(items.length)
  let next = 0
  let failed = false
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++
      try {
        results[index] = await fn(items[index], index)
      } catch (error) {
        failed = true // the first failure stops every worker from starting another call
        throw error
      }
    }
  }

  await Promise.all(Array.from({length: Math.max(1, Math.min(concurrency, items.length))}, worker))
  return results
}

/** Run `fn` once per target with `concurrency` in flight: wall time, per-call latency, CPU of this process. */
export async function measureCalls(targets, concurrency, fn) {
  const latencies = new Array(targets.length)
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  await mapConcurrent(targets, concurrency, async (target, i) => {
    const t0 = performance.now()
    await fn(target, i)
    latencies[i] = performance.now() - t0
  })
  const wallMs = performance.now() - start
  return {count: targets.length, wallMs, cpuMs: cpuMsSince(cpuStart), latencies}
}

/** This process's CPU time (user + system) since `start` (a `process.cpuUsage()` value), in milliseconds. */
export function cpuMsSince(start) {
  const {user, system} = process.cpuUsage(start)
  return (user + system) / 1000
}

/** A positive integer from an environment knob, or `fallback` when unset; anything else is an error. */
export function positiveInt(text, fallback) {
  if (text === undefined || text === '') return fallback
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got "${text}"`)
  return n
}

/**
 * Start bench/agents-host.js and wait for its ready line; `stop()` ends it (SIGTERM, then SIGKILL)
 * and waits. `pool`: {file, offset, perAgent = 1} of pre-generated keys (bench/key-pool.js), perAgent
 * of them for each agent (one per activation or renewal); else it makes them.
 */
export async function startAgentsHost(root, dir, count, pool) {
  fs.mkdirSync(dir, {recursive: true})
  const poolArgs = pool ? [pool.file, String(pool.offset), String(pool.perAgent ?? 1)] : []
  const child = spawn(process.execPath, [path.join(root, 'bench', 'agents-host.js'), dir, String(count), ...poolArgs], {stdio: ['pipe', 'pipe', 'inherit']})
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({code, signal})))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }

  try {
    const agents = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agents-host did not report ready within 5 minutes`)), 300_000)
      const lines = onJsonLines(child.stdout, (message) => {
        if (message.ready) {
          clearTimeout(timer)
          lines.close()
          resolve(message.agents)
        }
      })
      child.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      exited.then(({code, signal}) => {
        clearTimeout(timer)
        reject(new Error(`agents-host exited (${signal ?? code}) before it was ready`))
      })
    })
    for (const agent of agents) {
      if (agent.host !== '127.0.0.1') throw new Error(`agents-host listens on ${agent.host}, not 127.0.0.1`)
    }

    return {agents, stop, kill: () => child.kill('SIGTERM')}
  } catch (error) {
    await stop()
    throw error
  }
}

/** Call `onMessage` with each line of `stream` that is JSON (other lines are passed over). */
export function onJsonLines(stream, onMessage) {
  const lines = readline.createInterface({input: stream})
  lines.on('line', (line) => {
    let message
    try {
      message = JSON.parse(line)
    } catch {
      return
    }

    onMessage(message)
  })
  return lines
}
