// One timed heartbeat run: bench/heartbeat-client.js (its own process) against one server, with the
// server's CPU time and resident memory sampled from /proc around the timed part only (after the
// client's warm-up, before its last heartbeat returns).
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {onJsonLines} from './lib.js'
import {childHandle, procSample} from './processes.js'

const CLIENT_TIMEOUT_MS = 600_000
const RSS_SAMPLE_MS = 50

let clientSeq = 0

/**
 * `config`: the client configuration (bench/heartbeat-client.js); `serverPids()`: the server's
 * processes; `track`: {started, stopped} of the caller. Resolves to
 * {result (the client's report), serverCpuMs, rssStartKb, rssPeakKb}.
 */
export async function runClient(root, work, config, serverPids, track, note) {
  const file = path.join(work, `client-${clientSeq++}.json`)
  fs.writeFileSync(file, JSON.stringify(config))
  const child = spawn(process.execPath, [path.join(root, 'bench', 'heartbeat-client.js'), file], {stdio: ['pipe', 'pipe', 'inherit']})
  const handle = track.started(childHandle(child))
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
    await track.stopped(handle)
  }
}

/** Per-heartbeat figures of one run, for the tables. */
export function perHeartbeat(m) {
  const ok = Math.max(1, m.result.ok)
  return {
    perS: m.result.ok / (m.result.wallMs / 1000),
    cpuMs: m.serverCpuMs / ok,
    medianMs: m.result.medianMs,
    p99Ms: m.result.p99Ms,
    commands: m.result.commands / ok,
    reusedPct: (100 * m.result.reused) / ok,
    clientCpuPct: (100 * m.result.cpuMs) / m.result.wallMs,
  }
}
