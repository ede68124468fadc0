import type net from 'node:net'

import {errorFields} from '../platform/log.js'
import {DirLock} from '../platform/lock.js'
import {CONTROL_SOCKET, DAEMON_LOCK, serveControl} from './control.js'
import {heartbeatInterval, heartbeatOnce} from './outbound.js'
import {AgentRuntime, AgentRuntimeOptions, AgentServer} from './server.js'
import {DsaCore} from './store.js'

/** How often to look whether a heartbeat is due. */
const CHECK_MS = 1000

/**
 * The long-running agent (`tether agent start`): one per dsa_core (the daemon lock, held for its
 * whole life), serving the manager on its port, answering dsa_control on the control socket, and
 * sending heartbeats on its interval when its communication mode lets it.
 */
export class AgentDaemon {
  private timer?: NodeJS.Timeout
  private stopped = false

  private constructor(
    readonly runtime: AgentRuntime,
    private readonly server: AgentServer,
    private readonly control: net.Server,
    private readonly lock: DirLock,
  ) {}

  static async start(options: AgentRuntimeOptions & {port: number; host: string}): Promise<{daemon: AgentDaemon; host: string; port: number}> {
    new DsaCore(options.dsaCore).ensureDir()
    const lock = await DirLock.acquireAsync(options.dsaCore, {file: DAEMON_LOCK, waitMs: 0, what: `the agent in ${options.dsaCore} (another agent runs on it)`})
    let runtime: AgentRuntime | undefined
    try {
      runtime = await AgentRuntime.open(options)
      const server = new AgentServer(runtime)
      const bound = await server.listen(options.port, options.host)
      const control = await serveControl(runtime)
      const daemon = new AgentDaemon(runtime, server, control, lock)
      runtime.log.info('listening', {...bound, state: runtime.observeState(), dsaCore: runtime.store.dir, control: CONTROL_SOCKET, pid: process.pid})
      daemon.schedule()
      return {daemon, ...bound}
    } catch (error) {
      runtime?.close()
      lock.release()
      throw error
    }
  }

  private lastBeat?: number

  /**
   * Look every second whether a heartbeat is due, re-reading the state and interval each time: an
   * activation, a reset or a SetCommunication from the manager takes effect at once, not after the
   * old interval. The first heartbeat goes out as soon as the agent is up and activated.
   */
  private schedule(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => void this.tick(), this.lastBeat === undefined ? 0 : CHECK_MS)
  }

  private async tick(): Promise<void> {
    try {
      await this.beatIfDue()
    } catch (error) {
      // A damaged dsa_core: every command reports it; keep looking.
      this.runtime.log.warn('state-unreadable', errorFields(error))
    }

    this.schedule()
  }

  private async beatIfDue(): Promise<void> {
    this.runtime.observeState()
    const seconds = heartbeatInterval(this.runtime)
    if (seconds === undefined) {
      this.lastBeat = Date.now()
      return
    }

    if (this.lastBeat !== undefined && Date.now() - this.lastBeat < seconds * 1000) return
    this.lastBeat = Date.now()
    try {
      const beat = await heartbeatOnce(this.runtime)
      this.runtime.log.debug('heartbeat-sent', {address: beat.address})
    } catch (error) {
      this.runtime.log.warn('heartbeat-failed', {address: this.runtime.store.communication()?.managerAddress ?? undefined, ...errorFields(error)})
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    await new Promise<void>((resolve) => this.control.close(() => resolve()))
    await this.server.close()
    this.lock.release()
    this.runtime.log.info('stopped', {dsaCore: this.runtime.store.dir})
  }
}
