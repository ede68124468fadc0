import cluster, {type Worker} from 'node:cluster'
import crypto from 'node:crypto'
import {fileURLToPath} from 'node:url'

import {TetherError} from '../errors.js'
import {type LogFormat, type LogLevel, type Logger, errorFields} from '../platform/log.js'
import {WINDOW_MS} from './rate-limit.js'

/**
 * `tether manager start --workers N`: the heartbeat listener in N worker processes sharing one
 * listening socket (Node's cluster). On Linux the kernel hands each connection to a worker
 * (SCHED_NONE): the primary never touches a connection, so it costs no CPU per heartbeat. The
 * primary (ManagerRuntime) keeps what must happen once per node: the daemon lock, the poller
 * (manager-initiated contacts, its own certificate's renewal, node liveness), the health endpoint;
 * and it is the hub the workers share through:
 *  - failed activation attempts (rate-limit.ts): each worker's told to the others, so the limits
 *    are the node's;
 *  - activation confirmations: the agent comes back on a new connection, which may reach another
 *    worker; that one relays the session to the worker that awaits it;
 *  - the TLS session ticket keys (made here, per run), so a session resumes on any worker;
 *  - renewal of the manager certificate when a worker sees the clock jump (the primary renews,
 *    the worker reads the new files).
 * A worker that dies is logged and started again after a backoff; on stop every worker is told to
 * finish its connections, and killed if it does not within STOP_GRACE_MS. A worker whose primary
 * is gone (the IPC channel closes) stops on its own.
 */

export interface WorkerLogOptions {
  format: LogFormat
  level: LogLevel
}

/** What a worker is started with (in its environment, as JSON). */
export interface WorkerConfig {
  slot: number
  workers: number
  home: string
  port: number
  host: string
  pollMs: number
  log: WorkerLogOptions
}

export const WORKER_CONFIG_ENV = 'TETHER_MANAGER_WORKER'

export interface SerializedError {
  failure: TetherError['failure']
  code: string
  message: string
  hint?: string
}

/** Worker to primary. */
export type WorkerMessage =
  | {type: 'hello'}
  | {type: 'listening'; host: string; port: number}
  | {type: 'failed'; error: SerializedError}
  | {type: 'failure'; source: string; at: number}
  | {type: 'awaiting'; sha256: string; waiting: boolean}
  | {type: 'arrived'; sha256: string; query: number}
  | {type: 'relay'; ref: string; message: RelayMessage}
  | {type: 'renew'; id: number}
  | {type: 'die'}

/** Primary to worker. */
export type PrimaryMessage =
  | {type: 'ticket-keys'; keys: string}
  | {type: 'stop'}
  | {type: 'failure'; source: string; at: number}
  | {type: 'route'; query: number; to: 'none' | 'self' | string}
  | {type: 'handed-over'; sha256: string; ref: string}
  | {type: 'relay'; ref: string; message: RelayMessage}
  | {type: 'renewed'; id: number; error?: SerializedError}

/** Over a relayed confirmation session: commands one way, replies the other; gone when an end died. */
export type RelayMessage =
  | {kind: 'command'; id: number; name: string; body: unknown}
  | {kind: 'reply'; id: number; value?: unknown; error?: SerializedError}
  | {kind: 'close'}
  | {kind: 'gone'}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof TetherError) return {failure: error.failure, code: error.code, message: error.message, hint: error.hint}
  return {failure: 'internal', code: errorFields(error).reason, message: error instanceof Error ? error.message : String(error)}
}

export function deserializeError(error: SerializedError): TetherError {
  return new TetherError(error.failure, error.code, error.message, {hint: error.hint})
}

/** How long a worker has to finish its connections when stopped. */
const STOP_GRACE_MS = 10_000
/** A worker's first restart waits this, doubling while it keeps dying young, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 250
const MAX_BACKOFF_MS = 10_000
/** A worker that lived this long died of something new: its restart waits FIRST_BACKOFF_MS again. */
const STEADY_MS = 30_000
/** A confirmation can reach a worker a moment before the one awaiting it has said so. */
const ARRIVAL_GRACE_MS = 2000

interface Slot {
  id: number
  worker?: Worker
  startedAt: number
  listening: boolean
  backoffMs: number
  restart?: NodeJS.Timeout
}

export class WorkerPool {
  private readonly slots: Slot[] = []
  private stopping = false
  private bound?: {host: string; port: number}
  private requested?: {host: string; port: number}
  /** Who awaits the confirmation of which certificate. */
  private readonly awaiting = new Map<string, number>()
  /** Arrivals of a confirmation nobody has said it awaits yet, for ARRIVAL_GRACE_MS. */
  private readonly early = new Map<string, Array<(slot: number | undefined) => void>>()
  /** Relayed confirmation sessions: the worker holding the connection and the one awaiting it. */
  private readonly relays = new Map<string, {holder: number; awaiter: number}>()
  private relayCount = 0
  private failures: Array<{source: string; at: number}> = []
  private readonly ticketKeys = crypto.randomBytes(48)

  constructor(private readonly options: {home: string; count: number; pollMs: number; log: Logger; logOptions: WorkerLogOptions; renew(): Promise<void>}) {
    for (let id = 1; id <= options.count; id++) this.slots.push({id, startedAt: 0, listening: false, backoffMs: FIRST_BACKOFF_MS})
  }

  /** Whether any worker accepts connections now (the health endpoint asks). */
  get listening(): boolean {
    return this.slots.some((slot) => slot.listening)
  }

  /**
   * Start the first worker, learn the port it bound (port 0: any free one), then the others on
   * that socket; resolves once every worker listens. A worker that cannot start fails the start.
   */
  async start(port: number, host: string): Promise<{host: string; port: number}> {
    // Before the first fork: connections are accepted by the workers themselves, not passed on.
    if (process.platform !== 'win32') cluster.schedulingPolicy = cluster.SCHED_NONE
    cluster.setupPrimary({exec: fileURLToPath(new URL('worker-main.js', import.meta.url)), args: [], silent: false})
    this.requested = {host, port}
    try {
      const [first, ...rest] = this.slots
      this.bound = await this.fork(first)
      await Promise.all(rest.map((slot) => this.fork(slot)))
    } catch (error) {
      await this.stop()
      throw error
    }

    return this.bound
  }

  async stop(): Promise<void> {
    this.stopping = true
    await Promise.all(this.slots.map(async (slot) => {
      clearTimeout(slot.restart)
      const {worker} = slot
      if (!worker || worker.isDead()) return
      const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
      const kill = setTimeout(() => worker.process.kill('SIGKILL'), STOP_GRACE_MS)
      if (worker.isConnected()) worker.send({type: 'stop'} satisfies PrimaryMessage)
      else worker.process.kill('SIGTERM')
      await gone
      clearTimeout(kill)
    }))
  }

  /** Start the worker of a slot; resolves when it listens, rejects if it fails or dies first. */
  private fork(slot: Slot): Promise<{host: string; port: number}> {
    // While another worker holds the socket, ask for it as first asked (cluster shares it by that
    // key); when none does, it is gone: bind the port it had, so agents keep their address.
    const alive = this.slots.some((other) => other !== slot && other.worker && !other.worker.isDead())
    const port = this.bound && !alive ? this.bound.port : this.requested!.port
    const config: WorkerConfig = {slot: slot.id, workers: this.options.count, home: this.options.home, port, host: this.requested!.host, pollMs: this.options.pollMs, log: this.options.logOptions}
    const worker = cluster.fork({[WORKER_CONFIG_ENV]: JSON.stringify(config)})
    slot.worker = worker
    slot.startedAt = Date.now()
    slot.listening = false
    const {log} = this.options
    log.info('worker-started', {worker: slot.id, pid: worker.process.pid})
    return new Promise((resolve, reject) => {
      let settled = false
      const settle = (error: TetherError | undefined, bound?: {host: string; port: number}) => {
        if (settled) return
        settled = true
        if (error) reject(error)
        else resolve(bound!)
      }

      worker.on('message', (message: WorkerMessage) => {
        // Over the IPC channel, not the environment: a secret.
        if (message.type === 'hello') worker.send({type: 'ticket-keys', keys: this.ticketKeys.toString('base64')} satisfies PrimaryMessage)
        else if (message.type === 'listening') {
          if (this.bound && message.port !== this.bound.port) {
            // Another socket than the node's (its last holder died meanwhile): not where agents go.
            log.error('worker-wrong-port', {worker: slot.id, pid: worker.process.pid, port: message.port, expected: this.bound.port})
            worker.process.kill('SIGKILL')
            return
          }

          slot.listening = true
          log.info('worker-listening', {worker: slot.id, pid: worker.process.pid, host: message.host, port: message.port})
          for (const at of this.recentFailures()) worker.send({type: 'failure', ...at} satisfies PrimaryMessage)
          settle(undefined, {host: message.host, port: message.port})
        } else if (message.type === 'failed') {
          log.error('worker-failed', {worker: slot.id, pid: worker.process.pid, reason: message.error.code, detail: message.error.message})
          settle(deserializeError(message.error))
        } else {
          this.onMessage(slot, message)
        }
      })
      worker.on('exit', (code, signal) => {
        slot.listening = false
        this.forget(slot.id)
        settle(new TetherError('internal', 'worker-died', `listener worker ${slot.id} exited (${signal ?? `code ${code}`}) before it listened`, {hint: 'see the log lines before this one'}))
        if (this.stopping) {
          log.info('worker-stopped', {worker: slot.id, pid: worker.process.pid, code: code ?? undefined, signal: signal ?? undefined})
          return
        }

        const lived = Date.now() - slot.startedAt
        slot.backoffMs = lived >= STEADY_MS ? FIRST_BACKOFF_MS : slot.backoffMs
        const wait = slot.backoffMs
        slot.backoffMs = Math.min(MAX_BACKOFF_MS, slot.backoffMs * 2)
        log.error('worker-exited', {worker: slot.id, pid: worker.process.pid, code: code ?? undefined, signal: signal ?? undefined, livedMs: lived, restartInMs: wait})
        slot.restart = setTimeout(() => {
          if (this.stopping) return
          this.fork(slot).catch(() => undefined)
        }, wait)
      })
    })
  }

  private send(slotId: number, message: PrimaryMessage): boolean {
    const worker = this.slots[slotId - 1]?.worker
    if (!worker || !worker.isConnected()) return false
    worker.send(message)
    return true
  }

  private onMessage(slot: Slot, message: WorkerMessage): void {
    switch (message.type) {
      case 'failure': {
        this.recentFailures().push({source: message.source, at: message.at})
        for (const other of this.slots) if (other !== slot) this.send(other.id, {type: 'failure', source: message.source, at: message.at})
        break
      }

      case 'awaiting': {
        if (!message.waiting) {
          if (this.awaiting.get(message.sha256) === slot.id) this.awaiting.delete(message.sha256)
          break
        }

        this.awaiting.set(message.sha256, slot.id)
        for (const wake of this.early.get(message.sha256) ?? []) wake(slot.id)
        this.early.delete(message.sha256)
        break
      }

      case 'arrived': {
        void this.awaiter(message.sha256).then((awaiter) => {
          if (awaiter === undefined) return this.send(slot.id, {type: 'route', query: message.query, to: 'none'})
          if (awaiter === slot.id) return this.send(slot.id, {type: 'route', query: message.query, to: 'self'})
          const ref = `${slot.id}-${++this.relayCount}`
          this.relays.set(ref, {holder: slot.id, awaiter})
          this.options.log.debug('confirmation-relayed', {peerSha256: message.sha256, from: slot.id, to: awaiter})
          this.send(slot.id, {type: 'route', query: message.query, to: ref})
          this.send(awaiter, {type: 'handed-over', sha256: message.sha256, ref})
        })
        break
      }

      case 'relay': {
        const relay = this.relays.get(message.ref)
        if (!relay) break
        const to = slot.id === relay.holder ? relay.awaiter : relay.holder
        if (!this.send(to, {type: 'relay', ref: message.ref, message: message.message}) || message.message.kind === 'close') this.relays.delete(message.ref)
        break
      }

      case 'die': {
        // A crash test's failpoint in a worker: the node dies at once, every process of it.
        for (const other of this.slots) other.worker?.process.kill('SIGKILL')
        process.kill(process.pid, 'SIGKILL')
        break
      }

      case 'renew': {
        this.options.renew().then(
          () => this.send(slot.id, {type: 'renewed', id: message.id}),
          (error: unknown) => this.send(slot.id, {type: 'renewed', id: message.id, error: serializeError(error)}),
        )
        break
      }

      default:
        break
    }
  }

  /** The worker awaiting this confirmation, waiting a moment for it to say so. */
  private awaiter(sha256: string): Promise<number | undefined> {
    const known = this.awaiting.get(sha256)
    if (known !== undefined) return Promise.resolve(known)
    return new Promise((resolve) => {
      const wake = (slot: number | undefined) => {
        clearTimeout(timer)
        resolve(slot)
      }

      const timer = setTimeout(() => {
        const waiting = (this.early.get(sha256) ?? []).filter((other) => other !== wake)
        if (waiting.length > 0) this.early.set(sha256, waiting)
        else this.early.delete(sha256)
        resolve(undefined)
      }, ARRIVAL_GRACE_MS)
      this.early.set(sha256, [...(this.early.get(sha256) ?? []), wake])
    })
  }

  /** A dead worker awaits nothing, and the sessions relayed through it are gone for the other end. */
  private forget(slotId: number): void {
    for (const [sha256, slot] of this.awaiting) if (slot === slotId) this.awaiting.delete(sha256)
    for (const [ref, relay] of this.relays) {
      if (relay.holder !== slotId && relay.awaiter !== slotId) continue
      this.relays.delete(ref)
      this.send(relay.holder === slotId ? relay.awaiter : relay.holder, {type: 'relay', ref, message: {kind: 'gone'}})
    }
  }

  private recentFailures(): Array<{source: string; at: number}> {
    const since = Date.now() - WINDOW_MS
    this.failures = this.failures.filter((failure) => failure.at > since)
    return this.failures
  }
}
