import type net from 'node:net'
import type tls from 'node:tls'

import type {Logger} from '../platform/log.js'
import {RateGate} from '../platform/rate-gate.js'

/**
 * Limits every TLS listener enforces on what a peer can hold before it has proved anything: a
 * cap on concurrent connections per source address (checked on the raw TCP socket, before it is
 * handed to the TLS server), a handshake deadline (Node's TLS server times a handshake out but,
 * with a `tlsClientError` listener, leaves the socket open: the guard closes it), and an idle
 * deadline (nothing received for that long). It counts and logs what it refused.
 *
 * A socket handed to a TLS server is only ever closed through its TLS socket: destroying the raw
 * socket under a live TLS socket crashes Node 20 (SIGSEGV) on the next getCipher()/getProtocol().
 */

export interface ListenerLimits {
  handshakeTimeoutMs: number
  idleTimeoutMs: number
  maxConnectionsPerSource: number
}

/** A handshake slower than this on loopback or a LAN is an attack or a broken peer. */
export const MAX_HANDSHAKE_TIMEOUT_SECONDS = 10

/**
 * The agent serves one manager (a few nodes at most); the manager's heartbeat port serves every
 * agent, and sites behind one NAT share an address, so it allows far more per source.
 */
export const LISTENER_DEFAULTS = {
  agent: {handshakeTimeoutMs: 10_000, idleTimeoutMs: 120_000, maxConnectionsPerSource: 32},
  manager: {handshakeTimeoutMs: 10_000, idleTimeoutMs: 120_000, maxConnectionsPerSource: 256},
} as const satisfies Record<string, ListenerLimits>

export type LimitReason = 'per-source-cap' | 'handshake-timeout' | 'idle-timeout'

interface Tracked {
  /** The TCP socket: its byte count is the peer's activity. */
  raw: net.Socket
  source: string
  /** Set once the TLS handshake is done: what the idle deadline closes. */
  tls?: tls.TLSSocket
  bytesRead: number
  quietSince: number
}

const endpoint = (socket: net.Socket) => `${socket.remoteAddress}|${socket.remotePort}`
/** One source whether it arrived over IPv4 or as an IPv4-mapped IPv6 address. */
const sourceOf = (socket: net.Socket) => (socket.remoteAddress ?? '?').replace(/^::ffff:/, '')

export class ConnectionGuard {
  /** Connections closed or turned away by each limit since the guard was made. */
  readonly refused: Record<LimitReason, number> = {'per-source-cap': 0, 'handshake-timeout': 0, 'idle-timeout': 0}
  private readonly bySource = new Map<string, number>()
  private readonly tracked = new Map<string, Tracked>()
  private readonly sweep: NodeJS.Timeout
  private readonly logGate: RateGate

  constructor(
    readonly limits: ListenerLimits,
    private readonly log?: Logger,
    private readonly listener = 'listener',
  ) {
    this.sweep = setInterval(() => this.closeIdle(), Math.min(5000, Math.max(100, limits.idleTimeoutMs / 4))).unref()
    // A flood must not flood the log either: a few lines per reason a minute, then a count.
    this.logGate = new RateGate({
      perWindow: 5,
      windowMs: 60_000,
      onSummary: ({key, suppressed, from, to}) => this.log?.warn('connections-refused', {listener: this.listener, reason: key, count: suppressed, from: from.toISOString(), to: to.toISOString()}),
    })
  }

  /** Connections open now. */
  get open(): number {
    return this.tracked.size
  }

  /**
   * Take a new TCP connection in, or close it at once (before any TLS byte) when its source
   * already holds its share.
   */
  admit(socket: net.Socket): boolean {
    const source = sourceOf(socket)
    const holding = this.bySource.get(source) ?? 0
    if (holding >= this.limits.maxConnectionsPerSource) {
      socket.destroy()
      this.refuse('per-source-cap', source)
      return false
    }

    this.bySource.set(source, holding + 1)
    const key = endpoint(socket)
    const tracked: Tracked = {raw: socket, source, bytesRead: socket.bytesRead, quietSince: Date.now()}
    this.tracked.set(key, tracked)
    socket.once('close', () => {
      if (this.tracked.get(key) === tracked) this.tracked.delete(key)
      const left = (this.bySource.get(source) ?? 1) - 1
      if (left > 0) this.bySource.set(source, left)
      else this.bySource.delete(source)
    })
    return true
  }

  /**
   * For the TLS (or HTTPS) server the admitted sockets go to: its handshake deadline. Trickled
   * handshake bytes do not extend it (they never reach the TLS socket's JavaScript side).
   */
  tlsOptions(): Pick<tls.TlsOptions, 'handshakeTimeout'> {
    return {handshakeTimeout: this.limits.handshakeTimeoutMs}
  }

  /**
   * Follow that server: a timed-out or failed handshake is closed at once and counted; an
   * established connection is watched for silence.
   */
  watch(server: tls.Server): void {
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      const tracked = this.tracked.get(endpoint(socket))
      if (tracked) tracked.tls = socket
    })
    server.on('tlsClientError', (error: Error & {code?: string}, socket: tls.TLSSocket) => {
      if (error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.refuse('handshake-timeout', sourceOf(socket))
      socket.destroy()
    })
  }

  /** Stop the idle sweep and report the refusals not yet logged. */
  stop(): void {
    clearInterval(this.sweep)
    this.logGate.flush()
  }

  private closeIdle(): void {
    const now = Date.now()
    for (const tracked of this.tracked.values()) {
      // Before the handshake ends, its own deadline applies.
      if (!tracked.tls || tracked.tls.destroyed) continue
      if (tracked.raw.bytesRead !== tracked.bytesRead) {
        tracked.bytesRead = tracked.raw.bytesRead
        tracked.quietSince = now
      } else if (now - tracked.quietSince >= this.limits.idleTimeoutMs) {
        tracked.tls.destroy()
        this.refuse('idle-timeout', tracked.source)
      }
    }
  }

  private refuse(reason: LimitReason, source: string): void {
    this.refused[reason]++
    if (this.logGate.pass(reason)) {
      this.log?.warn('connection-refused', {listener: this.listener, reason, source, ...this.describe(reason)})
    }
  }

  private describe(reason: LimitReason): {maxConnectionsPerSource: number} | {timeoutMs: number} {
    const {limits} = this
    if (reason === 'per-source-cap') return {maxConnectionsPerSource: limits.maxConnectionsPerSource}
    return {timeoutMs: reason === 'handshake-timeout' ? limits.handshakeTimeoutMs : limits.idleTimeoutMs}
  }
}
