import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import zlib from 'node:zlib'

import {bootstrapIdentity} from '../src/pki/bootstrap.js'

/**
 * Hostile peers for the listener-limit tests, holding only what any attacker has: the public
 * bootstrap key. Each flood worker comes from its own loopback address (127.0.0.0/8 is all
 * loopback on Linux), as a botnet would, so per-source caps do not hide what the body caps do.
 */

const MiB = 1024 * 1024

/**
 * A gzip bomb: a JSON document of `size` bytes (one long string field, so it is valid JSON that
 * only the schema refuses) compressing to about 1/1000 of that.
 */
export function gzipBomb(size = 64 * MiB - 1024, field = 'certificate'): Buffer {
  const head = Buffer.from(`{"${field}":"`)
  const tail = Buffer.from('"}')
  const body = Buffer.alloc(size, 'A')
  head.copy(body, 0)
  tail.copy(body, size - tail.length)
  return zlib.gzipSync(body, {level: 9})
}

/** The resident set size of a process now, in bytes (Linux /proc). */
export function rssBytes(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(match[1]) * 1024
}

/** Sample a process's RSS every `everyMs` until stopped; the largest sample is the load's peak. */
export function sampleRss(pid: number, everyMs = 50): {stop(): {max: number; samples: number}} {
  let max = 0
  let samples = 0
  const take = () => {
    try {
      max = Math.max(max, rssBytes(pid))
      samples++
    } catch {
      // The process ended: the test's own assertions say so.
    }
  }

  take()
  const timer = setInterval(take, everyMs)
  return {
    stop() {
      clearInterval(timer)
      take()
      return {max, samples}
    },
  }
}

export const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10

export interface Flood {
  /** Bombs sent whose answer (or cut connection) came back. */
  readonly sent: number
  /** Answers by HTTP status, or `closed` when the peer dropped the connection. */
  readonly outcomes: Map<string, number>
  stop(): Promise<void>
}

function sourceAddress(i: number): string {
  return `127.0.0.${10 + (i % 200)}`
}

function loop(workers: number, once: (i: number) => Promise<string>): Flood {
  let running = true
  const outcomes = new Map<string, number>()
  const state = {sent: 0}
  const work = Array.from({length: workers}, async (_, i) => {
    while (running) {
      const outcome = await once(i).catch(() => 'closed')
      state.sent++
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    }
  })
  return {
    get sent() {
      return state.sent
    },
    outcomes,
    async stop() {
      running = false
      await Promise.all(work)
    },
  }
}

/**
 * Bombs at an agent's command port: `workers` concurrent connections, each from its own address,
 * POSTing the bomb as SetDSMCert with the bootstrap certificate as client certificate, again and
 * again until stopped.
 */
export function bombAgent(port: number, bomb: Buffer, workers = 40): Flood {
  const {certPem, keyPem} = bootstrapIdentity()
  return loop(workers, (i) => new Promise<string>((resolve) => {
    const request = https.request({
      host: '127.0.0.1',
      port,
      localAddress: sourceAddress(i),
      method: 'POST',
      path: '/SetDSMCert',
      cert: certPem,
      key: keyPem,
      rejectUnauthorized: false,
      agent: false,
      headers: {'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length},
    }, (response) => {
      response.resume()
      response.on('end', () => resolve(String(response.statusCode)))
      response.on('error', () => resolve('closed'))
    })
    request.setTimeout(60_000, () => request.destroy())
    request.on('error', () => resolve('closed'))
    request.end(bomb)
  }))
}

/**
 * Bombs at a manager's heartbeat port: `workers` concurrent "agents" presenting the bootstrap
 * certificate (an agent-initiated activation request) that answer the manager's GetHostInfo with
 * the bomb, again and again until stopped.
 */
export function bombManager(port: number, bomb: Buffer, workers = 40): Flood {
  const {certPem, keyPem} = bootstrapIdentity()
  const answer = http.createServer((_req, res) => {
    _req.resume()
    res.writeHead(200, {'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length})
    res.end(bomb)
  })
  return loop(workers, (i) => new Promise<string>((resolve) => {
    const socket = tls.connect({host: '127.0.0.1', port, localAddress: sourceAddress(i), cert: certPem, key: keyPem, rejectUnauthorized: false})
    const timer = setTimeout(() => socket.destroy(), 60_000)
    socket.once('secureConnect', () => answer.emit('connection', socket))
    socket.once('close', () => {
      clearTimeout(timer)
      resolve('closed')
    })
    socket.on('error', () => socket.destroy())
  }))
}

/** `count` TCP connections that never start a TLS handshake, all from one address. */
export interface IdleConnections {
  sockets: net.Socket[]
  /** When each connected and when the server closed it (ms since the epoch). */
  connectedAt: Map<net.Socket, number>
  closedAt: Map<net.Socket, number>
  /** How long each closed connection lived, shortest first. */
  lifetimes(): number[]
}

/** Open them all at once; resolves once every connection was made (the listen backlog delays some). */
export async function idleConnections(port: number, count: number, localAddress = '127.0.0.2'): Promise<IdleConnections> {
  const sockets: net.Socket[] = []
  const connectedAt = new Map<net.Socket, number>()
  const closedAt = new Map<net.Socket, number>()
  await Promise.all(Array.from({length: count}, () => new Promise<void>((resolve) => {
    const socket = net.connect({host: '127.0.0.1', port, localAddress})
    sockets.push(socket)
    socket.on('error', () => undefined)
    socket.once('connect', () => {
      connectedAt.set(socket, Date.now())
      resolve()
    })
    socket.once('close', () => {
      closedAt.set(socket, Date.now())
      resolve()
    })
  })))
  return {
    sockets,
    connectedAt,
    closedAt,
    lifetimes: () => sockets.filter((s) => closedAt.has(s) && connectedAt.has(s)).map((s) => closedAt.get(s)! - connectedAt.get(s)!).sort((x, y) => x - y),
  }
}
