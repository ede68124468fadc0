import os from 'node:os'

import {finishInterruptedRetire} from './ca-rotation.js'

import {TetherError} from '../errors.js'
import type {DirLock} from '../platform/lock.js'
import {confirmOverNewConnection, openAgentConnection} from './connections.js'
import {runContact} from './contact.js'
import type {ManagerContext} from './context.js'
import {lockManagerHome} from './daemon-lock.js'
import {settleContact} from './deactivation.js'
import {HealthEndpoint} from './health.js'
import {HeartbeatListener} from './heartbeat.js'
import {HomeFollower} from './home-follower.js'
import type {ManagerHome} from './home.js'
import {releasePollLease, takePollLease} from './leases.js'
import {type Logger, errorFields} from '../platform/log.js'
import {presence} from './computers.js'
import {renewManagerCertificate} from './manager-renewal.js'
import {getSettings} from './settings.js'
import type {Computer} from './store/store.js'
import {WorkerPool, type WorkerLogOptions} from './workers.js'

/**
 * The running manager (`tether manager start`): the heartbeat listener for agents that connect in,
 * and a poller that contacts agents the manager must reach itself (manager-initiated mode, or
 * bidirectional computers with operations waiting). One per home (the daemon lock). On PostgreSQL
 * it is one node of several: it says where agents reach it, and polls a computer only under a
 * lease, so each computer is polled by one node at a time. With `workers` above 1 the listener runs
 * in that many worker processes sharing the port (workers.ts), and this process keeps the rest: the
 * lock, the poller, the renewal of its certificate, the health endpoint.
 */

/** How often a node says it is alive (nodes list shows when it was last seen). */
const SEEN_EVERY_MS = 5000

export interface StartOptions {
  pollMs?: number
  /** HOST:PORT agents are told for this node (default: where it listens; a wildcard address: the hostname). */
  advertise?: string
  health?: {port: number; host: string}
  /** Listener processes sharing the port (default 1: the listener runs in this process), and their log. */
  workers?: {count: number; log: WorkerLogOptions}
}

export class ManagerRuntime {
  private listener?: HeartbeatListener
  private pool?: WorkerPool
  private health?: HealthEndpoint
  private timer?: NodeJS.Timeout
  private polling = false
  private readonly contacting = new Set<number>()
  private heartbeatAddress?: string
  private lastSeen = 0

  private readonly follower: HomeFollower

  private constructor(readonly home: ManagerHome, readonly context: ManagerContext & {close(): Promise<void>}, private readonly lock: DirLock) {
    this.follower = new HomeFollower(home, context)
  }

  static async open(home: ManagerHome, options: {log?: Logger; now?: () => Date} = {}): Promise<ManagerRuntime> {
    const lock = await lockManagerHome(home.dir)
    let context: ManagerContext & {close(): Promise<void>}
    try {
      finishInterruptedRetire(home)
      context = await home.open(options)
    } catch (error) {
      lock.release()
      throw error
    }

    const runtime = new ManagerRuntime(home, context, lock)
    try {
      await runtime.refuseIfRemoved()
      await runtime.renewOwnCertificate()
    } catch (error) {
      await runtime.context.close()
      lock.release()
      throw error
    }

    return runtime
  }

  /** A node removed from its installation does not start: its certificate is revoked. */
  private async refuseIfRemoved(): Promise<void> {
    const name = this.context.node
    if (!name) return
    const node = await this.context.store.nodes.get(name)
    if (!node || node.removedAt) {
      throw new TetherError('refused', 'node-removed', `node ${name} ${node ? `was removed from the installation at ${node.removedAt}` : 'is not a node of the installation'}: its certificate is revoked`, {
        hint: 'join it again with a new invitation (`tether manager nodes invite` on another node, then `tether manager join` with a new --home)',
      })
    }
  }


  /** The manager's own certificate: given the manager role, or renewed before it expires, while running. */
  private renewing?: Promise<void>

  /**
   * One at a time: the poll and the listener's catch-up after a clock jump both ask, and two
   * renewals at once would keep the first new certificate as the previous one, not the old.
   */
  private renewOwnCertificate(): Promise<void> {
    this.renewing ??= (async () => {
      const renewed = await renewManagerCertificate(this.home, this.context)
      if (renewed) this.context.credentials = renewed
    })().finally(() => {
      this.renewing = undefined
    })
    return this.renewing
  }

  async start(port: number, host: string, options: StartOptions = {}): Promise<{host: string; port: number; heartbeatAddress: string; health?: string}> {
    const pollMs = options.pollMs ?? 1000
    let bound: {host: string; port: number}
    if (options.workers && options.workers.count > 1) {
      this.pool = new WorkerPool({home: this.home.dir, count: options.workers.count, pollMs, log: this.context.log, logOptions: options.workers.log, renew: () => this.renewOwnCertificate()})
      bound = await this.pool.start(port, host)
    } else {
      this.listener = await HeartbeatListener.create(this.context)
      this.listener.beforeCatchUp = () => this.renewOwnCertificate()
      bound = await this.listener.listen(port, host)
    }

    const advertisedHost = ['0.0.0.0', '::'].includes(bound.host) ? os.hostname() : bound.host
    const heartbeatAddress = options.advertise ?? `${advertisedHost}:${bound.port}`
    this.heartbeatAddress = heartbeatAddress
    // On PostgreSQL every node has its own address (the list agents fail over along); embedded, the one.
    if (this.context.node) await this.sayAlive(true)
    else await this.context.store.meta.set('listening_address', heartbeatAddress)
    let health: string | undefined
    if (options.health) {
      const {listener, pool} = this
      const started = await HealthEndpoint.start(options.health.port, options.health.host, {store: this.context.store, listening: () => (pool ? pool.listening : listener!.listening), node: this.context.node})
      this.health = started.endpoint
      health = `${started.host}:${started.port}`
    }

    this.timer = setInterval(() => void this.poll(), pollMs)
    this.timer.unref()
    return {...bound, heartbeatAddress, ...(health ? {health} : {})}
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.health?.close()
    await this.listener?.close()
    await this.pool?.stop()
    await this.context.close()
    this.lock.release()
  }

  private async sayAlive(now = false): Promise<void> {
    if (!this.context.node || (!now && Date.now() - this.lastSeen < SEEN_EVERY_MS)) return
    this.lastSeen = Date.now()
    await this.context.store.nodes.seen(this.context.node, this.heartbeatAddress ?? null, this.context.now())
  }

  /** Contact, at most once at a time each, the computers the manager itself must reach now. */
  private async poll(): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      await this.sayAlive()
      await this.follower.follow()
      await this.renewOwnCertificate()
      await this.listener?.refresh()
      const defaults = await getSettings(this.context.store)
      const now = this.context.now()
      // Only those that may be due: reading every computer each tick stalls a large registry.
      for (const computer of await this.context.store.computers.pollCandidates()) {
        if (!['activated', 'deactivation-pending'].includes(computer.state) || !computer.address || this.contacting.has(computer.id)) continue
        if (!(await this.isDue(computer, defaults, now))) continue
        // Another node may be polling it: one at a time, and re-read once ours (it may have just been contacted).
        if (!(await takePollLease(this.context, computer.id))) continue
        const current = await this.context.store.computers.get(computer.id)
        if (!current || !(await this.isDue(current, defaults, this.context.now()))) {
          await releasePollLease(this.context, computer.id)
          continue
        }

        this.contacting.add(computer.id)
        void this.contact(current).finally(async () => {
          this.contacting.delete(computer.id)
          await releasePollLease(this.context, computer.id).catch(() => undefined)
        })
      }
    } catch (error) {
      // A store that is briefly unavailable (locked, restarting): the next tick tries again.
      this.context.log.warn('poll-failed', errorFields(error))
    } finally {
      this.polling = false
    }
  }

  private async isDue(computer: Computer, defaults: {heartbeatIntervalSeconds: number; missedHeartbeats: number}, now: Date): Promise<boolean> {
    if (computer.mode === 'agent-initiated') return false
    if ((await this.context.store.operations.queued(computer.id)).length > 0) return true
    if (computer.mode !== 'manager-initiated') return false
    const interval = presence(computer, defaults, now).heartbeatIntervalSeconds
    return !computer.lastSeenAt || now.getTime() - Date.parse(computer.lastSeenAt) >= interval * 1000
  }

  /** A manager-initiated heartbeat: the same session as an inbound one, over our own connection. */
  async contact(computer: Computer): Promise<void> {
    try {
      const open = await openAgentConnection(this.context, computer)
      const report = await runContact(this.context, open.session, open.computer, {expired: open.expired, peer: open.peer})
      await settleContact(this.context, open.computer, report)
      if (report.renewed) await confirmOverNewConnection(this.context, open.computer, report.renewed)
      this.context.log.debug('contact', {computer: computer.id, address: computer.address ?? undefined, deactivated: report.deactivated})
    } catch (error) {
      // Unreachable now: presence turns offline on its own once heartbeats are missed.
      this.context.log.warn('contact-failed', {computer: computer.id, address: computer.address ?? undefined, ...errorFields(error)})
    }
  }
}
