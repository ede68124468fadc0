// Shared measurement helpers for the benchmarks: statistics, tables, and running a command.
import {spawnSync} from 'node:child_process'
import {performance} from 'node:perf_hooks'

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

/** This process's CPU time (user + system) since `start` (a `process.cpuUsage()` value), in milliseconds. */
export function cpuMsSince(start) {
  const {user, system} = process.cpuUsage(start)
  return (user + system) / 1000
}
