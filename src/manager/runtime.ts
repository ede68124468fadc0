import os from 'node:os'

import {ManagerContext} from './activation.js'
import {Computer, listComputers, presence} from './computers.js'
import {openAgentConnection, runContact} from './contact.js'
import {HeartbeatListener} from './heartbeat.js'
import {ManagerHome} from './home.js'
import {setMeta} from './registry.js'
import {queuedOperations} from './operations.js'
import {getSettings} from './settings.js'

/**
 * The running manager (`tether manager start`): the heartbeat listener for agents that connect in,
 * and a poller that contacts agents the manager must reach itself (manager-initiated mode, or
 * bidirectional computers with operations waiting).
 */
export class ManagerRuntime {
  private listener?: HeartbeatListener
  private timer?: NodeJS.Timeout
  private readonly contacting = new Set<number>()

  private constructor(readonly home: ManagerHome, readonly context: ManagerContext) {}

  static async open(home: ManagerHome): Promise<ManagerRuntime> {
    const credentials = home.loadCredentials()
    const db = await home.openRegistry()
    return new ManagerRuntime(home, {credentials, db})
  }

  async start(port: number, host: string, options: {pollMs?: number} = {}): Promise<{host: string; port: number; heartbeatAddress: string}> {
    this.listener = new HeartbeatListener(this.context)
    const bound = await this.listener.listen(port, host)
    const advertisedHost = ['0.0.0.0', '::'].includes(bound.host) ? os.hostname() : bound.host
    const heartbeatAddress = `${advertisedHost}:${bound.port}`
    setMeta(this.context.db, 'listening_address', heartbeatAddress)
    this.timer = setInterval(() => this.poll(), options.pollMs ?? 1000)
    this.timer.unref()
    return {...bound, heartbeatAddress}
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.listener?.close()
    this.context.db.close()
  }

  /** Contact, at most once at a time each, the computers the manager itself must reach now. */
  private poll(): void {
    this.listener?.refreshRevocations()
    const defaults = getSettings(this.context.db)
    const now = new Date()
    for (const computer of listComputers(this.context.db)) {
      if (!['activated', 'deactivation-pending'].includes(computer.state) || !computer.address || this.contacting.has(computer.id)) continue
      if (!this.isDue(computer, defaults, now)) continue
      this.contacting.add(computer.id)
      void this.contact(computer).finally(() => this.contacting.delete(computer.id))
    }
  }

  private isDue(computer: Computer, defaults: {heartbeatIntervalSeconds: number; missedHeartbeats: number}, now: Date): boolean {
    if (computer.mode === 'agent-initiated') return false
    if (queuedOperations(this.context.db, computer.id).length > 0) return true
    if (computer.mode !== 'manager-initiated') return false
    const interval = presence(computer, defaults, now).heartbeatIntervalSeconds
    return !computer.lastSeenAt || now.getTime() - Date.parse(computer.lastSeenAt) >= interval * 1000
  }

  /** A manager-initiated heartbeat: the same session as an inbound one, over our own connection. */
  async contact(computer: Computer): Promise<void> {
    try {
      await runContact(this.context, await openAgentConnection(this.context, computer), computer)
    } catch {
      // Unreachable now: presence turns offline on its own once heartbeats are missed.
    }
  }
}
