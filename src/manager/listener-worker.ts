import {COMMAND_TIMEOUT_MS, type CommandSession, type HttpSession} from '../channel/http-session.js'
import {TetherError} from '../errors.js'
import {onFailpoint} from '../platform/failpoint.js'
import {type Logger, createLogger, errorFields, withFields} from '../platform/log.js'
import type {CommandName, Reply, Request} from '../protocol/messages.js'
import {HeartbeatListener} from './heartbeat.js'
import {HomeFollower} from './home-follower.js'
import {ManagerHome} from './home.js'
import type {ListenerPeers} from './listener-peers.js'
import type {FailureLimiter} from './rate-limit.js'
import {type PrimaryMessage, type RelayMessage, type WorkerConfig, type WorkerMessage, deserializeError, serializeError} from './workers.js'

/**
 * One listener worker of `manager start --workers N` (see workers.ts): the heartbeat listener on
 * the shared socket, its CRL, limits and credentials refreshed on the poll interval as the single
 * process does, and nothing else (the primary polls, renews and holds the lock). Signals are the
 * primary's to act on: a terminal's Ctrl-C reaches the whole process group, and the primary stops
 * the workers itself; a worker whose primary is gone stops.
 */


function send(message: WorkerMessage): void {
  if (process.connected) process.send!(message)
}

/** Tell the primary why this worker cannot serve, then exit (once the message is written). */
function fail(error: unknown): never {
  if (process.connected) process.send!({type: 'failed', error: serializeError(error)} satisfies WorkerMessage, () => process.exit(1))
  else process.exit(1)
  // Until the message is written; nothing else runs meanwhile.
  return new Promise(() => undefined) as never
}

export async function runListenerWorker(config: WorkerConfig): Promise<void> {
  const log = withFields(createLogger({format: config.log.format, level: config.log.level}), {worker: config.slot})
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined)
  onFailpoint(() => {
    // The primary kills every worker and itself; this one does nothing more meanwhile (the loop
    // is blocked), and takes the primary along itself if that does not come.
    send({type: 'die'})
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000)
    process.kill(process.ppid, 'SIGKILL')
  })
  const home = new ManagerHome(config.home)
  let context: Awaited<ReturnType<ManagerHome['open']>>
  let listener: HeartbeatListener
  // Asked for once listening to the channel (a message sent before is not delivered): the session
  // ticket keys the listener needs.
  const ticketKeys = await new Promise<Buffer>((resolve) => {
    const first = (message: PrimaryMessage) => {
      if (message.type !== 'ticket-keys') return
      process.off('message', first)
      resolve(Buffer.from(message.keys, 'base64'))
    }

    process.on('message', first)
    send({type: 'hello'})
  })
  const peers = new IpcPeers(config.workers, ticketKeys, log)
  // Told to stop (or the primary gone) while still starting: stop once started.
  let stopping = false
  let stop = () => void (stopping = true)
  process.on('disconnect', () => stop())
  process.on('message', (message: PrimaryMessage) => {
    if (message.type === 'stop') stop()
    else peers.onMessage(message)
  })
  try {
    context = await home.open({log})
    listener = await HeartbeatListener.create(context, peers)
  } catch (error) {
    fail(error)
  }

  const follower = new HomeFollower(home, context)
  listener.beforeCatchUp = async () => {
    await peers.renew()
    await follower.follow()
  }

  let refreshing = false
  const timer = setInterval(() => {
    if (refreshing) return
    refreshing = true
    // A revocation, a re-issued CRL, a renewed certificate or a rotation step: taken at once by each worker.
    follower.follow().then(() => listener.refresh()).catch((error: unknown) => log.warn('refresh-failed', errorFields(error))).finally(() => {
      refreshing = false
    })
  }, config.pollMs)
  let stopped: Promise<void> | undefined
  stop = () => {
    stopped ??= (async () => {
      clearInterval(timer)
      await listener.close().catch(() => undefined)
      await context.close().catch(() => undefined)
      process.exit(0)
    })()
  }

  if (stopping) return stop()
  try {
    const bound = await listener.listen(config.port, config.host)
    send({type: 'listening', ...bound})
  } catch (error) {
    fail(error)
  }
}

/** The peers of a worker, reached through the primary over the IPC channel. */
class IpcPeers implements ListenerPeers {
  private listener?: {readonly limiter: FailureLimiter; confirmFromElsewhere(sha256: string, session: CommandSession): boolean}
  private queries = 0
  private readonly routes = new Map<number, {session: HttpSession; resolve(to: string): void}>()
  private renewals = 0
  private readonly renewing = new Map<number, (error?: TetherError) => void>()
  /** Sessions of this worker relayed to the one awaiting them, by relay. */
  private readonly held = new Map<string, HttpSession>()
  /** Sessions relayed to this worker, by relay. */
  private readonly relayed = new Map<string, RelayedSession>()

  constructor(readonly listeners: number, readonly ticketKeys: Buffer, private readonly log: Logger) {}

  attach(listener: {readonly limiter: FailureLimiter; confirmFromElsewhere(sha256: string, session: CommandSession): boolean}): void {
    this.listener = listener
    listener.limiter.onFail = (source, at) => send({type: 'failure', source, at})
  }

  awaiting(sha256: string, waiting: boolean): void {
    send({type: 'awaiting', sha256, waiting})
  }

  async handOff(sha256: string, session: HttpSession): Promise<boolean> {
    const query = ++this.queries
    const to = await new Promise<string>((resolve) => {
      this.routes.set(query, {session, resolve})
      send({type: 'arrived', sha256, query})
    })
    if (to === 'none') return false
    // This worker awaits it after all (the connection came before it said so).
    if (to === 'self') return this.listener?.confirmFromElsewhere(sha256, session) ?? false
    return true
  }

  renew(): Promise<void> {
    const id = ++this.renewals
    return new Promise((resolve, reject) => {
      this.renewing.set(id, (error) => (error ? reject(error) : resolve()))
      send({type: 'renew', id})
    })
  }

  onMessage(message: PrimaryMessage): void {
    switch (message.type) {
      case 'failure': {
        this.listener?.limiter.record(message.source, message.at)
        break
      }

      case 'route': {
        const route = this.routes.get(message.query)
        if (!route) break
        this.routes.delete(message.query)
        // Held from now: the first relayed command may be in the same read from the channel.
        if (message.to !== 'none' && message.to !== 'self') this.held.set(message.to, route.session)
        route.resolve(message.to)
        break
      }

      case 'renewed': {
        this.renewing.get(message.id)?.(message.error ? deserializeError(message.error) : undefined)
        this.renewing.delete(message.id)
        break
      }

      case 'handed-over': {
        const session = new RelayedSession(message.ref, () => this.relayed.delete(message.ref))
        this.relayed.set(message.ref, session)
        if (!this.listener?.confirmFromElsewhere(message.sha256, session)) session.close()
        break
      }

      case 'relay': {
        this.onRelay(message.ref, message.message)
        break
      }

      default:
        break
    }
  }

  private onRelay(ref: string, message: RelayMessage): void {
    const held = this.held.get(ref)
    if (held) {
      if (message.kind === 'command') {
        held.command(message.name as CommandName, message.body as never).then(
          (value) => send({type: 'relay', ref, message: {kind: 'reply', id: message.id, value}}),
          (error: unknown) => send({type: 'relay', ref, message: {kind: 'reply', id: message.id, error: serializeError(error)}}),
        )
      } else if (message.kind === 'close' || message.kind === 'gone') {
        this.held.delete(ref)
        held.close()
      }

      return
    }

    const relayed = this.relayed.get(ref)
    if (!relayed) return
    if (message.kind === 'reply') relayed.replied(message.id, message.error ? deserializeError(message.error) : undefined, message.value)
    else if (message.kind === 'gone') relayed.gone()
    else this.log.debug('relay-unexpected', {ref, kind: message.kind})
  }
}

/** A confirmation session held by another worker: each command goes there and its reply comes back. */
class RelayedSession implements CommandSession {
  private commands = 0
  private closed = false
  private readonly waiting = new Map<number, {resolve(value: unknown): void; reject(error: TetherError): void; timer: NodeJS.Timeout}>()

  constructor(private readonly ref: string, private readonly done: () => void) {}

  command<N extends CommandName>(name: N, body?: Request<N>): Promise<Reply<N>> {
    if (this.closed) return Promise.reject(new TetherError('unreachable', 'session-closed', 'the command session is closed'))
    const id = ++this.commands
    return new Promise<Reply<N>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new TetherError('unreachable', 'command-timeout', `the agent did not answer ${name} in time`))
      }, COMMAND_TIMEOUT_MS)
      this.waiting.set(id, {resolve: resolve as (value: unknown) => void, reject, timer})
      send({type: 'relay', ref: this.ref, message: {kind: 'command', id, name, body: body ?? {}}})
    })
  }

  replied(id: number, error: TetherError | undefined, value: unknown): void {
    const waiting = this.waiting.get(id)
    if (!waiting) return
    this.waiting.delete(id)
    clearTimeout(waiting.timer)
    if (error) waiting.reject(error)
    else waiting.resolve(value)
  }

  /** The worker holding the connection died: the session broke. */
  gone(): void {
    this.closed = true
    this.done()
    for (const [id, waiting] of this.waiting) {
      clearTimeout(waiting.timer)
      waiting.reject(new TetherError('unreachable', 'session-broken', 'the command session broke: the listener process holding it exited'))
      this.waiting.delete(id)
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.done()
    send({type: 'relay', ref: this.ref, message: {kind: 'close'}})
  }
}
