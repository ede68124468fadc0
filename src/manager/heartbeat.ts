import type crypto from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'

import {type CommandSession, HttpSession} from '../channel/http-session.js'
import {HandshakeEntry, HandshakeJournal, classifyTlsError, describeSocket} from '../channel/journal.js'
import {ConnectionGuard, ListenerLimits} from '../channel/limits.js'
import {listenOn} from '../channel/listen.js'
import {TLS_POLICY, peerCertificate} from '../channel/tls.js'
import {TetherError, isTetherError} from '../errors.js'
import {fingerprint, isSelfSigned, issuedBy, oneLineName, validityProblem} from '../pki/certificate.js'
import {isBootstrapCertificate} from '../pki/peer.js'
import {hasManagerRole} from '../pki/roles.js'
import {bodyLimitsFor} from '../protocol/codec.js'
import {serveActivationRequest} from './agent-initiated.js'
import {reportRefusal, runContact} from './contact.js'
import type {ManagerContext} from './context.js'
import {certificateRefused, renewedFrom} from './connections.js'
import {reload} from './computers.js'
import {settleContact} from './deactivation.js'
import {recoverActivation} from './interrupted-activation.js'
import {managerJournal} from './journal.js'
import type {ListenerPeers} from './listener-peers.js'
import {FailureLimiter, FailureLimits} from './rate-limit.js'
import {reactivateAsNewComputer} from './reactivation.js'
import {withinGrace} from './certificate-life.js'
import {confirmRenewal} from './renewal.js'
import {crlAged, currentCrl, tlsCrls} from './revocation.js'
import {managerCertificateDue} from './manager-renewal.js'
import {errorFields} from '../platform/log.js'
import {Settings, getSettings, listenerLimits} from './settings.js'
import type {Computer, PublishedCrl} from './store/store.js'

/**
 * The manager's heartbeat listener (default port 4120). Agents open the TCP connection and act as
 * TLS client; the manager is TLS server but remains the HTTP client: it sends the requests over
 * the accepted socket. Each connection is one of:
 *  - a heartbeat: an agent certificate from this CA (verified in the handshake);
 *  - the confirmation of an agent-initiated activation (the certificate just issued);
 *  - an agent-initiated activation request: the shipped bootstrap certificate;
 * and anything else is refused and journaled.
 */

const CONFIRMATION_TIMEOUT_MS = 30_000

interface PendingConfirmation {
  resolve(session: CommandSession): void
}

export class HeartbeatListener {
  private readonly server: tls.Server
  private readonly pending = new Map<string, PendingConfirmation>()
  private readonly sockets = new Set<net.Socket>()
  private readonly inflight = new Set<Promise<void>>()

  private readonly journalSink: HandshakeJournal
  /** Live sessions by the SHA-256 of the agent certificate they were opened with. */
  private readonly live = new Map<string, Set<tls.TLSSocket>>()
  private limits: FailureLimits
  readonly limiter = new FailureLimiter(() => this.limits)
  /** The TCP listener in front of the TLS server: the limits apply before any TLS byte. */
  private readonly front: net.Server
  private readonly guard: ConnectionGuard

  /** What the server context holds: the manager certificate and the CAs (renewed, rotated while running). */
  private credentialsKey: string

  private constructor(private readonly manager: ManagerContext, private crl: PublishedCrl, private crlPems: string[], limits: FailureLimits, listener: ListenerLimits, private readonly peers?: ListenerPeers) {
    this.credentialsKey = credentialsKey(manager)
    this.journalSink = managerJournal(manager)
    this.limits = limits
    this.guard = new ConnectionGuard(listener, manager.log, 'heartbeat')
    this.front = net.createServer({noDelay: true}, (raw) => {
      if (!this.guard.admit(raw)) return
      if (!this.timeMoved()) return void this.server.emit('connection', raw)
      // The clock passed a point where something must be issued again (a VM resumed, NTP stepped):
      // done before this handshake, so the first contact after a jump already sees the new time.
      void this.catchUp().finally(() => {
        if (!raw.destroyed) this.server.emit('connection', raw)
      })
    })
    this.server = tls.createServer({
      ...this.secureContextOptions(),
      noDelay: true,
      requestCert: true,
      // The bootstrap certificate must get through to be offered activation, so the verdict is
      // taken per connection in onSecure (and journaled), never left to a silent default.
      rejectUnauthorized: false,
      ...this.guard.tlsOptions(),
      ...(peers ? {ticketKeys: peers.ticketKeys} : {}),
    })
    this.server.on('secureConnection', (socket) => this.track(this.onSecure(socket)))
    this.server.on('tlsClientError', (error, socket) => this.onHandshakeFailure(error, socket))
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
    this.guard.watch(this.server)
    peers?.attach(this)
  }

  static async create(manager: ManagerContext, peers?: ListenerPeers): Promise<HeartbeatListener> {
    const settings = await getSettings(manager.store)
    const crl = await currentCrl(manager)
    const limits = listenerLimits(settings)
    // Processes sharing the port each allow their share: one source holds at most the cap in all.
    if (peers) limits.maxConnectionsPerSource = Math.max(1, Math.floor(limits.maxConnectionsPerSource / peers.listeners))
    return new HeartbeatListener(manager, crl, await tlsCrls(manager, crl), failureLimits(settings), limits, peers)
  }

  /**
   * The server's credentials: the manager certificate with its CA behind it (an agent holding an
   * enrolment token pins that CA before it sends anything), and the CRL in force.
   */
  private secureContextOptions(): tls.SecureContextOptions {
    const {credentials} = this.manager
    return {...TLS_POLICY, cert: `${credentials.managerCertPem}${credentials.chainPem}`, key: credentials.managerKeyPem, ca: credentials.trustedCasPem, crl: this.crlPems}
  }

  /** Run before the listener catches up with the clock: the runtime renews the manager certificate. */
  beforeCatchUp?: () => Promise<void>
  private catchingUp?: Promise<void>

  /** Whether the clock moved past the CRL's re-issue point or the manager certificate's renewal point. */
  private timeMoved(): boolean {
    const now = this.manager.now()
    return crlAged(this.crl, now) || managerCertificateDue(this.manager.credentials, now) !== undefined
  }

  /** One catch-up at a time, however many connections arrive meanwhile. */
  private catchUp(): Promise<void> {
    this.catchingUp ??= (async () => {
      try {
        await this.beforeCatchUp?.()
        await this.refresh()
      } catch (error) {
        this.manager.log.warn('catch-up-failed', errorFields(error))
      } finally {
        this.catchingUp = undefined
      }
    })()
    return this.catchingUp
  }

  /**
   * Re-read what may change while running: the CRL (a revocation by any process or node, or a
   * re-issue as it ages; live sessions of newly revoked certificates end) and the limits.
   */
  async refresh(): Promise<void> {
    this.limits = failureLimits(await getSettings(this.manager.store))
    const crl = await currentCrl(this.manager)
    const key = credentialsKey(this.manager)
    if (crl.number === this.crl.number && crl.publishedAt === this.crl.publishedAt && key === this.credentialsKey) return
    this.crl = crl
    this.crlPems = await tlsCrls(this.manager, crl)
    this.credentialsKey = key
    this.server.setSecureContext(this.secureContextOptions())
    for (const [sha256, sockets] of this.live) {
      if (!(await this.manager.store.certificates.isRevoked(sha256))) continue
      for (const socket of sockets) socket.destroy()
      this.manager.log.info('sessions-ended', {peerSha256: sha256, reason: 'revoked', sessions: sockets.size})
    }
  }

  private trackLive(sha256: string, socket: tls.TLSSocket): void {
    const sockets = this.live.get(sha256) ?? new Set()
    sockets.add(socket)
    this.live.set(sha256, sockets)
    socket.once('close', () => {
      sockets.delete(socket)
      if (sockets.size === 0) this.live.delete(sha256)
    })
  }

  async listen(port: number, host: string): Promise<{host: string; port: number}> {
    return listenOn(this.front, port, host)
  }

  /** Whether the heartbeat port accepts connections now (the health endpoint asks). */
  get listening(): boolean {
    return this.front.listening
  }

  async close(): Promise<void> {
    this.guard.stop()
    await new Promise<void>((resolve) => {
      this.front.close(() => resolve())
      for (const socket of this.sockets) socket.destroy()
    })
    await Promise.allSettled([...this.inflight])
  }

  private track(work: Promise<void>): void {
    this.inflight.add(work)
    void work.finally(() => this.inflight.delete(work))
  }

  private journal(socket: tls.TLSSocket, peer: crypto.X509Certificate | undefined, entry: Pick<HandshakeEntry, 'context' | 'result' | 'reason'> & Partial<HandshakeEntry>): void {
    this.journalSink.record({tlsRole: 'server', httpRole: 'client', ...describeSocket(socket, peer), ...entry})
  }

  private onHandshakeFailure(error: Error, socket: tls.TLSSocket): void {
    const {reason, detail} = classifyTlsError(error)
    this.journal(socket, undefined, {context: 'mutual', result: 'refused', reason, detail})
  }

  /** Why this peer may not be served as an agent (before any HTTP byte), or nothing. */
  private refusal(socket: tls.TLSSocket, peer: crypto.X509Certificate | undefined): {reason: string; detail: string} | undefined {
    const code = peer ? String(socket.authorizationError ?? '') : 'PEER_DID_NOT_RETURN_A_CERTIFICATE'
    // With CRL checking on, OpenSSL reports a foreign issuer as "unable to get CRL": name what it is.
    if (peer && !this.manager.credentials.trustedCas.some((ca) => issuedBy(peer, ca))) {
      return {reason: isSelfSigned(peer) ? 'self-signed' : 'unknown-ca', detail: `${code || 'UNVERIFIED'}: the certificate is not issued by this manager's CA (issuer ${oneLineName(peer.issuer)})`}
    }

    // A CRL past its nextUpdate (the clock jumped) says nothing about this certificate: revocation is
    // checked against the registry below, and the CRL is issued again at once.
    if (code === 'CRL_HAS_EXPIRED') {
      void this.refresh().catch(() => undefined)
      const problem = validityProblem(peer!, this.manager.now())
      // An expired certificate may still renew within the grace: judged with its computer (serveAgent).
      if (problem === 'not-yet-valid') return {reason: problem, detail: `the agent certificate is not valid yet (valid ${peer!.validFrom} to ${peer!.validTo})`}
    } else if (code !== 'CERT_HAS_EXPIRED' && !socket.authorized) {
      return classifyTlsError(Object.assign(new Error(code), {code}))
    }

    if (hasManagerRole(peer!)) {
      return {reason: 'manager-certificate-as-agent', detail: `the certificate SHA-256 ${fingerprint(peer!)} has the manager role; an agent never holds one`}
    }

    return undefined
  }

  private async onSecure(socket: tls.TLSSocket): Promise<void> {
    const peer = peerCertificate(socket)
    const isBootstrap = isBootstrapCertificate(peer)
    const refused = isBootstrap ? undefined : this.refusal(socket, peer)
    if (refused) {
      this.journal(socket, peer, {context: 'mutual', result: 'refused', ...refused})
      socket.destroy()
      return
    }

    // The bootstrap key is public: such a peer gets the small body caps.
    const session = new HttpSession(socket, bodyLimitsFor(isBootstrap ? 'unauthenticated' : 'authenticated'))
    try {
      if (isBootstrap) {
        this.journal(socket, peer, {context: 'bootstrap', result: 'accepted', reason: 'activation-request'})
        await serveActivationRequest(this.manager, {
          session,
          socket,
          limiter: this.limiter,
          journal: (entry) => this.journal(socket, peer, entry),
          awaitConfirmation: (sha256) => this.awaitConfirmation(sha256),
        })
        return
      }

      const sha256 = fingerprint(peer!)
      this.trackLive(sha256, socket)
      const waiting = this.pending.get(sha256)
      if (waiting) {
        this.journal(socket, peer, {context: 'mutual', result: 'accepted', reason: 'activation-confirmation'})
        this.pending.delete(sha256)
        waiting.resolve(session)
        return
      }

      await this.serveAgent(session, socket, peer!)
    } catch {
      // Each failure was journaled or reported to the agent; one agent's failure ends only its session.
      session.close()
    }
  }

  /** A heartbeat from an agent certificate of this CA: the computer's contact, if it is one. */
  private async serveAgent(session: HttpSession, socket: tls.TLSSocket, peer: crypto.X509Certificate): Promise<void> {
    const {store} = this.manager
    const sha256 = fingerprint(peer)
    const expired = validityProblem(peer, this.manager.now()) === 'expired'
    const journal = (result: 'accepted' | 'refused', reason: string, detail?: string) => this.journal(socket, peer, {context: 'mutual', result, reason, detail})
    if (await store.certificates.isRevoked(sha256)) {
      // The CRL in the context refuses it in the handshake; this covers the moment before reload.
      journal('refused', 'revoked')
      return session.close()
    }

    let computer = await store.computers.byCertificate(sha256)
    // A certificate issued for this computer since its current one: the agent installed it.
    if (computer?.state === 'activated' && computer.certSha256 !== sha256 && !expired && (await confirmRenewal(this.manager, computer, renewedFrom(peer)))) {
      journal('accepted', 'renewal-confirmed')
      computer = await reload(store, computer.id)
    }

    if (!computer || !['activated', 'deactivation-pending'].includes(computer.state) || computer.certSha256 !== sha256) return this.serveStranger(session, socket, peer, computer)
    if (expired && !withinGrace(peer.validTo, await getSettings(store), this.manager.now())) {
      const refusal = certificateRefused(computer, 'CERT_HAS_EXPIRED', peer)
      journal('refused', 'expired-beyond-grace', refusal.message)
      await reportRefusal(session, refusal)
      return session.close()
    }

    journal('accepted', expired ? 'expired-renewal' : 'heartbeat')
    try {
      await settleContact(this.manager, computer, await runContact(this.manager, session, computer, {expired, peer}))
    } catch (error) {
      if (isTetherError(error) && error.code === 'cloned-agent') journal('refused', 'cloned-agent', error.message)
      throw error
    }
  }

  /** A certificate of this CA no computer holds now: unknown to the registry, or not (any more) a computer's. */
  private async serveStranger(session: HttpSession, socket: tls.TLSSocket, peer: crypto.X509Certificate, computer: Computer | undefined): Promise<void> {
    if (!computer && !(await this.manager.store.certificates.isIssued(fingerprint(peer)))) {
      // Issued by this CA but unknown to the registry: the reactivation setting decides.
      try {
        await reactivateAsNewComputer(this.manager, session, 'unknown')
        this.journal(socket, peer, {context: 'mutual', result: 'accepted', reason: 'reactivated-unknown'})
      } catch (error) {
        this.journal(socket, peer, {context: 'mutual', result: 'refused', reason: isTetherError(error) ? error.code : 'unknown-agent', detail: (error as Error).message})
        await reportRefusal(session, error)
      }

      return session.close()
    }

    // The confirmation of an activation another listener process of this node runs: relayed to it.
    if (!computer && (await this.peers?.handOff(fingerprint(peer), session))) {
      this.journal(socket, peer, {context: 'mutual', result: 'accepted', reason: 'activation-confirmation'})
      return
    }

    // Issued for an activation that a node's death cut off: recorded now, and served as a heartbeat.
    const recovered = computer ? undefined : await recoverActivation(this.manager, session, peer)
    if (recovered) {
      this.journal(socket, peer, {context: 'mutual', result: 'accepted', reason: 'activation-recovered'})
      await settleContact(this.manager, recovered, await runContact(this.manager, session, recovered))
      return
    }

    this.journal(socket, peer, {context: 'mutual', result: 'refused', reason: 'unknown-agent', detail: computer ? `computer ${computer.id} is ${computer.state}` : 'no computer holds this certificate'})
    session.close()
  }

  /** A confirmation this listener awaits, reached by another listener process and relayed: false when not awaited. */
  confirmFromElsewhere(sha256: string, session: CommandSession): boolean {
    const waiting = this.pending.get(sha256)
    if (!waiting) return false
    this.pending.delete(sha256)
    waiting.resolve(session)
    return true
  }

  private awaitConfirmation(sha256: string): Promise<CommandSession> {
    this.peers?.awaiting(sha256, true)
    return new Promise<CommandSession>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(sha256)
        this.peers?.awaiting(sha256, false)
        reject(new TetherError('unreachable', 'confirmation-timeout', 'the agent did not come back over mutual TLS to confirm its activation'))
      }, CONFIRMATION_TIMEOUT_MS)
      this.pending.set(sha256, {
        resolve: (session) => {
          clearTimeout(timer)
          this.peers?.awaiting(sha256, false)
          resolve(session)
        },
      })
    })
  }
}

function credentialsKey(manager: ManagerContext): string {
  const {credentials} = manager
  return `${credentials.managerCertPem}${credentials.chainPem}${credentials.trustedCasPem}`
}

function failureLimits(settings: Settings): FailureLimits {
  return {perSource: settings.activationFailureLimit, total: settings.activationFailureLimitTotal}
}
