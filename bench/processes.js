// Child processes for the benchmarks: handles that stop them reliably, and /proc sampling of the
// CPU time and resident memory of a process tree (the server side of a benchmark is measured from
// outside, so its CPU per operation is its own whatever runs the client).
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'

/** stop(): SIGTERM, SIGKILL after 10 s, resolves once the process is gone; kill(): SIGKILL now. */
export function childHandle(child, alsoKill = () => []) {
  const exited = new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  child.once('error', () => undefined)
  return {
    pid: child.pid,
    exited,
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

export function killQuietly(pid) {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

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

/** CPU time (user + system, all threads) in ms and resident memory in kB, summed over `pids`. */
export function procSample(pids) {
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

export function childrenOf(pid) {
  const out = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(entry)
    if (fields && Number(fields[1]) === pid) out.push(Number(entry))
  }

  return out
}

/** `pid` and every process below it (worker processes of a server). */
export function processTree(pid) {
  const all = [pid]
  for (let i = 0; i < all.length; i++) all.push(...childrenOf(all[i]))
  return all
}

export async function freePort() {
  const server = net.createServer()
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const {port} = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

export function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Peak resident memory (VmHWM, kB) of a running process, or undefined once it is gone. */
export function peakRssKb(pid) {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}
