import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {TetherError, errnoCode, isTetherError} from '../errors.js'
import {PRIVATE_FILE_MODE} from '../platform/fsutil.js'
import type {ActivationReport, ActivationRequestArgs, HeartbeatRequest} from '../protocol/messages.js'
import type {RetryPolicy} from './classic-activation.js'
import type {HeartbeatResult} from './outbound.js'
import type {AgentRuntime} from './server.js'

/**
 * The local control channel: how `dsa_control` reaches a running agent. A Unix socket inside
 * dsa_core (a 0700 directory owned by the agent's user), itself 0600, so only that user (root on a
 * real install) can use it. With no agent running, the request runs in the calling process under
 * the daemon lock, so a daemon cannot start half-way through.
 */

export const CONTROL_SOCKET = 'ds_agent.sock'
export const DAEMON_LOCK = '.tether-daemon.lock'
/** A client must send its one-line request within this; the work it asks for may then take long. */
export const CONTROL_IDLE_MS = 10_000
/** A request is one short JSON line; anything longer is not a request. */
export const CONTROL_MAX_REQUEST_BYTES = 64 * 1024

export type ControlRequest =
  | {op: 'activate'; url: string; args: ActivationRequestArgs; retry?: RetryPolicy}
  | {op: 'heartbeat'; request?: HeartbeatRequest}
/** `transcript`: the lines dsa_control prints for the session (connect, handshake, each command). */
export type ControlReply =
  | {ok: true; report?: ActivationReport; heartbeat?: HeartbeatResult; transcript?: string[]}
  | {ok: false; error: ReturnType<TetherError['toJSON']>; transcript?: string[]}

async function perform(runtime: AgentRuntime, request: ControlRequest): Promise<ControlReply> {
  const {log} = runtime
  const transcript: string[] = []
  const progress = {line: (text: string) => void transcript.push(text)}
  // The activation arguments are not logged: a token may be among them.
  log.info('control-request', {op: request.op, url: request.op === 'activate' ? request.url : undefined})
  try {
    if (request.op === 'activate') {
      // Lazy: the activation and heartbeat code (TLS, protocol schemas) loads only where a request
      // runs, never in a dsa_control that only asks the running agent.
      const {activateWithRetries} = await import('./classic-activation.js')
      const report = await activateWithRetries(runtime, request.url, request.args, request.retry ?? {retries: 0, intervalSeconds: 1}, progress)
      const fields = {op: request.op, status: report.status, reason: report.reason, detail: report.status === 200 ? undefined : report.message}
      if (report.status === 200) log.info('control-done', fields)
      else log.warn('control-failed', fields)
      return {ok: true, report, transcript}
    }

    // Lazy: as above, loaded only where the request runs.
    const {heartbeatOnce} = await import('./outbound.js')
    const heartbeat = await heartbeatOnce(runtime, request.request)
    log.info('control-done', {op: request.op, address: heartbeat.address})
    return {ok: true, heartbeat}
  } catch (error) {
    const failure = isTetherError(error) ? error : new TetherError('internal', 'internal', (error as Error).message)
    log.warn('control-failed', {op: request.op, reason: failure.code, detail: failure.message})
    return {ok: false, error: failure.toJSON(), transcript}
  }
}

/** How long a request may take through the running agent: an activation's retries included. */
function replyTimeoutMs(request: ControlRequest): number {
  if (request.op !== 'activate' || !request.retry) return 120_000
  return (request.retry.retries + 1) * (request.retry.intervalSeconds + 60) * 1000
}

/** The daemon's side: listen on the control socket. */
export async function serveControl(runtime: AgentRuntime, options: {idleMs?: number} = {}): Promise<net.Server> {
  const idleMs = options.idleMs ?? CONTROL_IDLE_MS
  const file = path.join(runtime.store.dir, CONTROL_SOCKET)
  // Only the daemon-lock holder gets here, so a socket file left behind is stale.
  fs.rmSync(file, {force: true})
  const server = net.createServer((socket) => {
    let buffer = ''
    socket.setEncoding('utf8')
    socket.setTimeout(idleMs, () => {
      runtime.log.warn('control-failed', {reason: 'control-idle', detail: `no request within ${idleMs} ms`})
      socket.destroy()
    })
    socket.on('data', (chunk: string) => {
      buffer += chunk
      const newline = buffer.indexOf('\n')
      if (newline < 0) {
        if (buffer.length > CONTROL_MAX_REQUEST_BYTES) {
          runtime.log.warn('control-failed', {reason: 'bad-control-request', detail: 'the request is too long'})
          socket.destroy()
        }

        return
      }

      // The request is in: what it asks for (an activation) may take long, with nothing to read.
      socket.setTimeout(0)
      socket.removeAllListeners('data')
      let request: ControlRequest
      try {
        request = JSON.parse(buffer.slice(0, newline)) as ControlRequest
      } catch {
        runtime.log.warn('control-failed', {reason: 'bad-control-request', detail: 'the request is not JSON'})
        socket.end(`${JSON.stringify({ok: false, error: {code: 'bad-control-request', message: 'not JSON'}})}\n`)
        return
      }

      void perform(runtime, request).then((reply) => socket.end(`${JSON.stringify(reply)}\n`))
    })
    socket.on('error', () => socket.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(file, () => resolve())
  })
  fs.chmodSync(file, PRIVATE_FILE_MODE)
  return server
}

/** Ask a running agent; undefined when none is listening. */
export async function askDaemon(dsaCore: string, request: ControlRequest, timeoutMs = 120_000): Promise<ControlReply | undefined> {
  const file = path.join(dsaCore, CONTROL_SOCKET)
  if (!fs.existsSync(file)) return undefined
  return new Promise<ControlReply | undefined>((resolve, reject) => {
    const socket = net.createConnection(file)
    let data = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new TetherError('unreachable', 'daemon-timeout', `the running agent did not answer within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`))
    socket.on('data', (chunk: string) => {
      data += chunk
    })
    socket.on('end', () => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(data) as ControlReply)
      } catch {
        reject(new TetherError('internal', 'bad-control-reply', 'the running agent sent an unreadable reply'))
      }
    })
    socket.on('error', (error) => {
      clearTimeout(timer)
      const code = errnoCode(error)
      if (code === 'ECONNREFUSED' || code === 'ENOENT') resolve(undefined)
      else if (code === 'EACCES') reject(new TetherError('usage', 'control-denied', `not allowed to use ${file}`, {hint: 'run as root (the agent\'s owner)'}))
      else reject(error)
    })
  })
}

/**
 * Run a control request: through the running agent if there is one, else here under the daemon
 * lock (the `dsa_control -r; dsa_control -a ...` idiom right after install, no daemon started).
 */
export async function runControl(dsaCore: string, request: ControlRequest, options: {hostname?: string; clockOffsetMs?: number; serviceRetries?: number} = {}): Promise<ControlReply> {
  // dsa_control -t N: the agent service may be starting (lock held, socket not yet up); try again.
  for (let attempt = 0; ; attempt++) {
    try {
      return await runControlOnce(dsaCore, request, options)
    } catch (error) {
      const retryable = isTetherError(error) && (error.code === 'locked' || error.code === 'daemon-timeout')
      if (!retryable || attempt >= (options.serviceRetries ?? 0)) throw error
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  }
}

async function runControlOnce(dsaCore: string, request: ControlRequest, options: {hostname?: string; clockOffsetMs?: number}): Promise<ControlReply> {
  const viaDaemon = await askDaemon(dsaCore, request, replyTimeoutMs(request))
  if (viaDaemon) return viaDaemon
  // Lazy: the store and the lock (certificates, SQLite) load only when no running agent answers.
  const [{DsaCore}, {DirLock}] = await Promise.all([import('./store.js'), import('../platform/lock.js')])
  const store = new DsaCore(dsaCore)
  store.ensureDir()
  const lock = await DirLock.acquireAsync(dsaCore, {file: DAEMON_LOCK, waitMs: 2000, what: `the agent in ${dsaCore} (an agent is starting or running)`})
  try {
    // Lazy: the agent runtime (its command server, TLS and the database driver) loads only when no
    // running agent answers and the request runs in this process.
    const {AgentRuntime} = await import('./server.js')
    // The same environment `tether agent start` reads, so one-shot and daemon report alike.
    const runtime = await AgentRuntime.open({
      dsaCore,
      hostname: options.hostname ?? (process.env.TETHER_AGENT_HOSTNAME || undefined),
      clockOffsetMs: options.clockOffsetMs ?? Number(process.env.TETHER_AGENT_CLOCK_OFFSET ?? 0) * 1000,
    })
    try {
      return await perform(runtime, request)
    } finally {
      runtime.close()
    }
  } finally {
    lock.release()
  }
}

/** Reply to error: the failure a control request ended in, for the caller to throw. */
export function replyError(reply: ControlReply): TetherError | undefined {
  if (reply.ok) return undefined
  const e = reply.error
  return new TetherError((e.class as TetherError['failure']) ?? 'internal', String(e.code), String(e.message), {hint: e.hint as string | undefined, details: e.details as Record<string, unknown> | undefined})
}
