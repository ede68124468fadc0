import type net from 'node:net'

import {DirLock} from '../platform/fsutil.js'
import {DAEMON_LOCK, serveControl} from './control.js'
import {heartbeatInterval, heartbeatOnce} from './outbound.js'
import {AgentRuntime, AgentRuntimeOptions, AgentServer} from './server.js'
import {DsaCore} from './store.js'

/** While unactivated, how often to look again whether heartbeats are due. */
const IDLE_CHECK_MS = 2000

/**
 * The long-running agent (`tether agent start`): one per dsa_core (the daemon lock), serving the
 * manager on its port, answering dsa_control on the control socket, and sending heartbeats on its
 * interval when its communication mode lets it.
 */
export class AgentDaemon {
  private timer?: NodeJS.Timeout
  private stopped = false

  private constructor(
    readonly runtime: AgentRuntime,
    private readonly server: AgentServer,
    private readonly control: net.Server,
    private readonly lock: DirLock,
    private readonly onHeartbeatError: (error: Error) => void,
  ) {}

  static async start(options: AgentRuntimeOptions & {port: number; host: string; onHeartbeatError?: (error: Error) => void}): Promise<{daemon: AgentDaemon; host: string; port: number}> {
    new DsaCore(options.dsaCore).ensureDir()
    const lock = DirLock.acquire(options.dsaCore, {file: DAEMON_LOCK, waitMs: 0, what: `the agent in ${options.dsaCore} (another agent runs on it)`})
    let runtime: AgentRuntime | undefined
    try {
      runtime = await AgentRuntime.open(options)
      const server = new AgentServer(runtime)
      const bound = await server.listen(options.port, options.host)
      const control = await serveControl(runtime)
      const daemon = new AgentDaemon(runtime, server, control, lock, options.onHeartbeatError ?? (() => undefined))
      daemon.schedule()
      return {daemon, ...bound}
    } catch (error) {
      runtime?.close()
      lock.release()
      throw error
    }
  }

  private schedule(): void {
    if (this.stopped) return
    const seconds = heartbeatInterval(this.runtime)
    this.timer = setTimeout(() => void this.beat(seconds !== undefined), seconds === undefined ? IDLE_CHECK_MS : seconds * 1000)
  }

  private async beat(due: boolean): Promise<void> {
    // The interval is re-read each time: activation, reset or SetCommunication change it.
    if (due && heartbeatInterval(this.runtime) !== undefined) {
      try {
        await heartbeatOnce(this.runtime)
      } catch (error) {
        this.onHeartbeatError(error as Error)
      }
    }

    this.schedule()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    await new Promise<void>((resolve) => this.control.close(() => resolve()))
    await this.server.close()
    this.lock.release()
  }
}
