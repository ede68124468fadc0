import os from 'node:os'

import {confirmOverNewConnection, openAgentConnection} from './connections.js'
import {runContact} from './contact.js'
import type {ManagerContext} from './context.js'
import {settleContact} from './deactivation.js'
import {HeartbeatListener} from './heartbeat.js'
import type {ManagerHome} from './home.js'
import {type Logger, errorFields} from '../platform/log.js'
import {presence} from './computers.js'
import {renewManagerCertificate} from './manager-renewal.js'
import {getSettings} from './settings.js'
import type {Computer} from './store/store.js'

/**
 * The running manager (`tether manager start`): the heartbeat listener for agents that connect in,
 * and a poller that contacts agents the manager must reach itself (manager-initiated mode, or
 * bidirectional computers with operations waiting).
 */
export class ManagerRuntime {
  private listener?: HeartbeatListener
  private timer?: NodeJS.Timeout
  private polling = false
  private readonly contacting = new Set<number>()

  private constructor(readonly home: ManagerHome, readonly context: ManagerContext & {close(): Promise<void>}) {}

  static async open(home: ManagerHome, options: {log?: Logger; now?: () => Date} = {}): Promise<ManagerRuntime> {
    const runtime = new ManagerRuntime(home, await home.open(options))
    try {
      await runtime.renewOwnCertificate()
    } catch (error) {
      await runtime.context.close()
      throw error
    }

    return runtime
  }

  /** The manager's own certificate: given the manager role, or renewed before it expires, while running. */
  private async renewOwnCertificate(): Promise<void> {
    const renewed = await renewManagerCertificate(this.home, this.context)
    if (renewed) this.context.credentials = renewed
  }

  async start(port: number, host: string, options: {pollMs?: number} = {}): Promise<{host: string; port: number; heartbeatAddress: string}> {
    this.listener = await HeartbeatListener.create(this.context)
    this.listener.beforeCatchUp = () => this.renewOwnCertificate()
    const bound = await this.listener.listen(port, host)
    const advertisedHost = ['0.0.0.0', '::'].includes(bound.host) ? os.hostname() : bound.host
    const heartbeatAddress = `${advertisedHost}:${bound.port}`
    await this.context.store.meta.set('listening_address', heartbeatAddress)
    this.timer = setInterval(() => void this.poll(), options.pollMs ?? 1000)
    this.timer.unref()
    return {...bound, heartbeatAddress}
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.listener?.close()
    await this.context.close()
  }

  /** Contact, at most once at a time each, the computers the manager itself must reach now. */
  private async poll(): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      await this.renewOwnCertificate()
      await this.listener?.refresh()
      const defaults = await getSettings(this.context.store)
      const now = this.context.now()
      for (const computer of await this.context.store.computers.list()) {
        if (!['activated', 'deactivation-pending'].includes(computer.state) || !computer.address || this.contacting.has(computer.id)) continue
        if (!(await this.isDue(computer, defaults, now))) continue
        this.contacting.add(computer.id)
        void this.contact(computer).finally(() => this.contacting.delete(computer.id))
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
      const report = await runContact(this.context, open.session, open.computer, {expired: open.expired})
      await settleContact(this.context, open.computer, report)
      if (report.renewed) await confirmOverNewConnection(this.context, open.computer, report.renewed)
      this.context.log.debug('contact', {computer: computer.id, address: computer.address ?? undefined, deactivated: report.deactivated})
    } catch (error) {
      // Unreachable now: presence turns offline on its own once heartbeats are missed.
      this.context.log.warn('contact-failed', {computer: computer.id, address: computer.address ?? undefined, ...errorFields(error)})
    }
  }
}
