import type crypto from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import type tls from 'node:tls'

import {HandshakeEntry, SecurityContext, classifyTlsError, describeSocket} from '../channel/journal.js'
import {ConnectionGuard, LISTENER_DEFAULTS, ListenerLimits} from '../channel/limits.js'
import {listenOn} from '../channel/listen.js'
import {TLS_POLICY, peerCertificate} from '../channel/tls.js'
import {TetherError, isTetherError} from '../errors.js'
import {CONTENT_ENCODING, CONTENT_TYPE, bodyLimitsFor, decodeBody, encodeBody} from '../protocol/codec.js'
import {ErrorReply, httpStatusFor, isCommandName} from '../protocol/messages.js'
import {fingerprint, parseCertificate} from '../pki/certificate.js'
import {KeyPairPem, generateRsaKeyPair} from '../pki/keys.js'
import {filesStamp} from '../platform/fsutil.js'
import {Logger, silentLogger} from '../platform/log.js'
import type {Database} from '../platform/sqlite.js'
import {bootstrapIdentity} from '../pki/bootstrap.js'
import {SessionContext, dispatchCommand} from './handlers.js'
import {openAgentDatabase, recordHandshake} from './database.js'
import {judgeManager} from './manager-trust.js'
import {RefusalEvents} from './refusal-events.js'
import {AgentState, DSA_FILES, DsaCore} from './store.js'

/**
 * The agent runtime: always the HTTP server, in one of two TLS security contexts chosen per
 * connection from the state on disk (so activation and reset take effect without a restart).
 *
 * TLS server role: raw sockets are handed to a real `https.Server` with `emit('connection')`. A
 * hand-built `tls.TLSSocket({isServer: true, rejectUnauthorized: true})` does not reject a client
 * certificate that fails verification (DESIGN.md); the server object does.
 */

export interface AgentRuntimeOptions {
  dsaCore: string
  /** The name this agent reports (default: the machine's hostname). */
  hostname?: string
  /** Simulated clock offset, for clock-skew tests and drills. */
  clockOffsetMs?: number
  /** Source of new key pairs (default: native RSA generation at GenerateAgentCSR). */
  generateKeys?: () => Promise<KeyPairPem>
  /** Where the runtime logs its events (default: nowhere, for in-process users). */
  logger?: Logger
  /** Handshake and idle deadlines and the per-source cap of the agent's port. */
  limits?: ListenerLimits
}

const OUTBOUND_IDLE_MS = 60_000

interface ContextServer {
  key: string
  context: SecurityContext
  server: https.Server
  /** Pre-activated: the one manager certificate accepted. */
  binding?: crypto.X509Certificate
}

interface Session {
  ctx: SessionContext
  refusal?: TetherError
}

export class AgentRuntime {
  readonly store: DsaCore
  readonly hostname: string
  readonly log: Logger
  /** The state this process last saw or made, to tell a change made by another process. */
  private knownState?: AgentState
  private current?: ContextServer
  private readonly sessions = new WeakMap<object, Session>()
  private readonly sockets = new Set<net.Socket>()
  private readonly outboundHttp = http.createServer((req, res) => void this.handleRequest(req, res))
  readonly guard: ConnectionGuard
  private readonly refusals: RefusalEvents

  private constructor(options: AgentRuntimeOptions, readonly db: Database) {
    this.log = options.logger ?? silentLogger
    this.guard = new ConnectionGuard(options.limits ?? LISTENER_DEFAULTS.agent, this.log, 'agent')
    this.refusals = new RefusalEvents(db)
    this.store = new DsaCore(options.dsaCore, this.log)
    this.hostname = options.hostname ?? os.hostname()
    this.clockOffsetMs = options.clockOffsetMs ?? 0
    this.generateKeys = options.generateKeys ?? (() => generateRsaKeyPair())
  }

  private readonly clockOffsetMs: number
  private readonly generateKeys: () => Promise<KeyPairPem>

  static async open(options: AgentRuntimeOptions): Promise<AgentRuntime> {
    const store = new DsaCore(options.dsaCore, options.logger)
    // Creating dsa_core and finishing any change a crash interrupted happen before serving.
    await store.lockedAsync(() => undefined)
    const runtime = new AgentRuntime(options, await openAgentDatabase(store.dir))
    try {
      runtime.knownState = store.state()
    } catch {
      // Damaged: every command says so; nothing to compare with yet.
    }

    return runtime
  }

  /**
   * The agent's state on disk. A change this process did not make (`dsa_control -r` or
   * `agent bind` from a CLI) is logged the first time it is seen.
   */
  observeState(): AgentState {
    const state = this.store.state()
    if (this.knownState !== undefined && state !== this.knownState) {
      this.log.info(state === 'unactivated' ? 'reset-noticed' : 'state-changed', {from: this.knownState, to: state})
    }

    this.knownState = state
    return state
  }

  now(): Date {
    return new Date(Date.now() + this.clockOffsetMs)
  }

  /** Accept one inbound TCP connection (manager-initiated): TLS server, HTTP server. */
  acceptInbound(raw: net.Socket): void {
    if (!this.guard.admit(raw)) return
    this.track(raw)
    let server: ContextServer
    try {
      server = this.contextServer()
    } catch (error) {
      raw.destroy()
      this.journal({tlsRole: 'server', httpRole: 'server', peerAddress: address(raw), context: 'bootstrap', result: 'failed', reason: 'agent-state-error', detail: (error as Error).message})
      return
    }

    server.server.emit('connection', raw)
  }

  /**
   * Serve the manager over a TLS connection this agent opened (agent-initiated: the agent is TLS
   * client but still HTTP server). TLS is already established, so a plain http.Server parses it.
   * Resolves with the session's context when the manager closes the connection.
   */
  serveOutbound(socket: tls.TLSSocket, context: SecurityContext, extra: Partial<SessionContext> = {}): Promise<SessionContext> {
    this.track(socket)
    const peer = peerCertificate(socket)
    const ctx = {...this.newContext(context, peer), ...extra}
    this.sessions.set(socket, {ctx})
    this.journal({...describeSocket(socket, peer), tlsRole: 'client', httpRole: 'server', context, result: 'accepted', reason: 'ok'})
    // A manager that goes quiet must not hold the agent's connection forever.
    socket.setTimeout(OUTBOUND_IDLE_MS, () => socket.destroy())
    return new Promise<SessionContext>((resolve) => {
      socket.once('close', () => resolve(ctx))
      this.outboundHttp.emit('connection', socket)
    })
  }

  private newContext(context: SecurityContext, peer?: crypto.X509Certificate): SessionContext {
    const ownCert = context === 'mutual' ? this.store.read('cert') : undefined
    return {
      store: this.store,
      db: this.db,
      context,
      peer,
      staging: {},
      hostname: this.hostname,
      now: () => this.now(),
      generateKeys: this.generateKeys,
      sessionCertificateSha256: ownCert ? fingerprint(parseCertificate(ownCert, 'ds_agent.crt')) : undefined,
      requests: 0,
      log: this.log,
      stateChangedHere: (state) => {
        this.knownState = state
      },
    }
  }

  /** Stop: refuse new work and close every open connection. */
  close(): void {
    for (const socket of this.sockets) socket.destroy()
    this.guard.stop()
    this.refusals.flush()
    this.db.close()
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
  }

  /** The https.Server for the current state, rebuilt only when the credential files change. */
  private contextServer(): ContextServer {
    const key = this.stateKey()
    if (this.current?.key === key) return this.current
    const state = this.observeState()
    let options: https.ServerOptions
    let context: SecurityContext
    let binding: crypto.X509Certificate | undefined
    if (state === 'activated') {
      context = 'mutual'
      // Verified against the stored CA in the handshake. The verdict is enforced in
      // onSecureConnection rather than by rejectUnauthorized, because Node then destroys the
      // socket silently and the refusal could not be journaled with its reason.
      options = {
        cert: this.store.read('cert'),
        key: this.store.read('key'),
        ca: this.store.read('dsmCaCert'),
        requestCert: true,
        rejectUnauthorized: false,
      }
    } else {
      const bootstrap = bootstrapIdentity()
      context = state === 'pre-activated' ? 'pre-activated' : 'bootstrap'
      binding = state === 'pre-activated' ? parseCertificate(this.store.read('dsmCert')!, DSA_FILES.dsmCert) : undefined
      // Ask for the manager's certificate (to check a binding, and to tie SetDSMCert to the
      // peer), but accept any: before activation there is nothing to verify it against.
      options = {cert: bootstrap.certPem, key: bootstrap.keyPem, requestCert: true, rejectUnauthorized: false}
    }

    const server = https.createServer({...TLS_POLICY, ...options, ...this.guard.tlsOptions()}, (req, res) => void this.handleRequest(req, res))
    server.on('secureConnection', (socket: tls.TLSSocket) => this.onSecureConnection(socket, context, binding))
    server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => this.onHandshakeFailure(error, socket, context))
    this.guard.watch(server)
    server.keepAliveTimeout = 30_000
    this.current = {key, context, server, binding}
    return this.current
  }

  private stateKey(): string {
    return filesStamp((['key', 'cert', 'dsmCert', 'dsmCaCert', 'journal'] as const).map((name) => this.store.file(name)))
  }

  private onSecureConnection(socket: tls.TLSSocket, context: SecurityContext, binding?: crypto.X509Certificate): void {
    const peer = peerCertificate(socket)
    const session: Session = {ctx: this.newContext(context, peer)}
    let reason = 'ok'
    if (context === 'mutual') {
      // Refused before any HTTP byte is read: destroyed in the same tick as the handshake ends.
      const refusal = this.refuseAsManager(socket, peer)
      if (refusal) {
        this.journal({...describeSocket(socket, peer), tlsRole: 'server', httpRole: 'server', context, result: 'refused', ...refusal})
        socket.destroy()
        return
      }
    }

    if (binding && (!peer || !peer.raw.equals(binding.raw))) {
      reason = 'bound-to-other-manager'
      session.refusal = new TetherError('trust', reason, `this agent is bound to the manager with certificate SHA-256 ${fingerprint(binding)}; ${peer ? `refused the manager presenting ${fingerprint(peer)}` : 'the manager presented no certificate'}`, {
        hint: 'activate it from the bound manager, or clear the binding explicitly (`tether agent reset --unbind`)',
      })
    }

    this.sessions.set(socket, session)
    this.journal({
      ...describeSocket(socket, peer),
      tlsRole: 'server',
      httpRole: 'server',
      context,
      result: session.refusal ? 'refused' : 'accepted',
      reason,
      detail: session.refusal?.message,
    })
  }

  /** Why this TLS peer is not this agent's manager (the chain as TLS verified it, then role and CRL), or nothing. */
  refuseAsManager(socket: tls.TLSSocket, peer: crypto.X509Certificate | undefined): {reason: string; detail: string} | undefined {
    if (!socket.authorized) {
      const code = peer ? String(socket.authorizationError ?? 'UNVERIFIED') : 'PEER_DID_NOT_RETURN_A_CERTIFICATE'
      return classifyTlsError(Object.assign(new Error(code), {code}))
    }

    const verdict = judgeManager(this.store, peer, this.now())
    return verdict.ok ? undefined : {reason: verdict.reason, detail: verdict.detail}
  }

  private onHandshakeFailure(error: Error, socket: tls.TLSSocket, context: SecurityContext): void {
    const {reason, detail} = classifyTlsError(error)
    let peer: crypto.X509Certificate | undefined
    try {
      peer = peerCertificate(socket)
    } catch {
      peer = undefined
    }

    this.journal({...describeSocket(socket, peer), tlsRole: 'server', httpRole: 'server', context, result: 'refused', reason, detail})
  }

  /** A connection this agent opened that failed: journaled like any refused handshake. */
  journalOutboundFailure(address: string, context: SecurityContext, error: Error & {code?: string}): void {
    const {reason, detail} = isTetherError(error) && error.code !== 'tls-error' ? {reason: error.code, detail: error.message} : classifyTlsError(error)
    this.journal({tlsRole: 'client', httpRole: 'server', peerAddress: address, context, result: isTetherError(error) && error.failure === 'unreachable' ? 'failed' : 'refused', reason, detail})
  }

  private journal(entry: HandshakeEntry): void {
    this.logHandshake(entry)
    try {
      recordHandshake(this.db, entry)
      // Refusals are also events, so the manager hears of them at the next pickup (a flood: a count).
      if (entry.result === 'refused') this.refusals.record(entry)
    } catch {
      // The journal is a diagnostic aid; a full disk must not take the agent down with it.
    }
  }

  /** One line per handshake: accepted at debug, refused at warn; commands are logged by handleRequest. */
  private logHandshake(entry: HandshakeEntry): void {
    if (entry.reason.startsWith('command-')) return
    const fields = {peer: entry.peerAddress, context: entry.context, tlsRole: entry.tlsRole, reason: entry.reason, detail: entry.detail, peerSha256: entry.peerSha256}
    if (entry.result === 'accepted') this.log.debug('handshake-accepted', {...fields, reason: undefined, peerSubject: entry.peerSubject})
    else if (entry.result === 'refused') this.log.warn('handshake-refused', fields)
    // A connection this agent opened that failed: the heartbeat or activation reports it.
    else if (entry.tlsRole === 'client') this.log.debug('connection-failed', fields)
    else this.log.warn('handshake-failed', fields)
  }

  private async handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const session = this.sessions.get(req.socket)
    const name = (req.url ?? '/').replace(/^\//, '').split('?')[0]
    // Taken now: once an oversized body has the connection dropped, req.socket is gone.
    const peer = address(req.socket)
    try {
      if (!session) throw new TetherError('internal', 'no-session', 'no TLS session for this request')
      if (session.refusal) {
        req.resume()
        res.shouldKeepAlive = false
        throw session.refusal
      }

      session.ctx.requests++
      if (req.method !== 'POST') {
        // Not a command: no body at all, so nothing compressed answers a probe (BREACH scanners).
        req.resume()
        res.writeHead(405, {allow: 'POST', 'content-length': 0}).end()
        return
      }

      if (!isCommandName(name)) throw new TetherError('notFound', 'unknown-command', `unknown command "${name}"`)
      session.ctx.onCommand?.(name)
      // Before activation nobody proved anything: small caps (a bomb stops at 256 KiB).
      const limits = bodyLimitsFor(session.ctx.context === 'mutual' ? 'authenticated' : 'unauthenticated')
      const body = await decodeBody<Record<string, unknown>>(req, req.headers['content-encoding'], limits)
      const reply = await dispatchCommand(session.ctx, name, body ?? {})
      send(res, 200, reply)
    } catch (error) {
      const failure = isTetherError(error) ? error : new TetherError('internal', 'internal', (error as Error).message)
      if (failure.code === 'requires-activation' || failure.code === 'already-activated') {
        this.journal({...describeSocket(req.socket as tls.TLSSocket, session?.ctx.peer), tlsRole: 'server', httpRole: 'server', context: session?.ctx.context ?? 'bootstrap', result: 'refused', reason: `command-${failure.code}`, detail: `${name}: ${failure.message}`})
      }

      const fields = {command: name, reason: failure.code, class: failure.failure, detail: failure.message, peer, context: session?.ctx.context}
      if (failure.failure === 'internal') this.log.error('command-failed', fields)
      else this.log.warn('command-refused', fields)
      const reply: ErrorReply = {error: {code: failure.code, class: failure.failure, message: failure.message, hint: failure.hint}}
      // An oversized body was not read to its end: answer, then drop the connection.
      if (failure.code === 'body-too-large') res.shouldKeepAlive = false
      send(res, failure.code === 'body-too-large' ? 413 : httpStatusFor(failure.failure), reply)
    }
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const payload = encodeBody(body)
  res.writeHead(status, {'content-type': CONTENT_TYPE, 'content-encoding': CONTENT_ENCODING, 'content-length': payload.length})
  res.end(payload)
}

function address(socket: net.Socket): string | undefined {
  return socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : undefined
}

/** The agent's listener for manager-initiated connections. */
export class AgentServer {
  private readonly listener: net.Server

  constructor(readonly runtime: AgentRuntime) {
    // noDelay: a command session is small request/reply pairs; Nagle plus delayed ACK stalls each ~40 ms.
    this.listener = net.createServer({noDelay: true}, (raw) => runtime.acceptInbound(raw))
  }

  async listen(port: number, host: string): Promise<{host: string; port: number}> {
    return listenOn(this.listener, port, host)
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.listener.close(() => resolve())
      this.runtime.close()
    })
  }
}
