import type crypto from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'

import {HttpSession} from '../channel/http-session.js'
import {HandshakeEntry, HandshakeJournal, classifyTlsError, describeSocket} from '../channel/journal.js'
import {listenOn} from '../channel/listen.js'
import {TLS_POLICY, peerCertificate} from '../channel/tls.js'
import {TetherError, isTetherError} from '../errors.js'
import {fingerprint, isSelfSigned, issuedBy, oneLineName} from '../pki/certificate.js'
import {isBootstrapCertificate} from '../pki/peer.js'
import {ActivationReport, HostInfo} from '../protocol/messages.js'
import {ActivationRequest, completeActivation, duplicatePlan} from './activation.js'
import {checkClockSkew} from './clock.js'
import {reportRefusal, runContact} from './contact.js'
import type {ManagerContext} from './context.js'
import {settleContact} from './deactivation.js'
import {managerJournal} from './journal.js'
import {reactivateAsNewComputer} from './reactivation.js'
import {currentCrl} from './revocation.js'
import {deliverPolicyNow, groupPath, requestedPolicy} from './operator-words.js'
import {advertisedHeartbeatAddress, getSettings} from './settings.js'

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
  resolve(session: HttpSession): void
}

export class HeartbeatListener {
  private readonly server: tls.Server
  private readonly pending = new Map<string, PendingConfirmation>()
  private readonly sockets = new Set<net.Socket>()
  private readonly inflight = new Set<Promise<void>>()

  private readonly journalSink: HandshakeJournal

  private constructor(private readonly manager: ManagerContext, private crl: string) {
    const {credentials} = manager
    this.journalSink = managerJournal(manager)
    this.server = tls.createServer({
      ...TLS_POLICY,
      noDelay: true,
      cert: credentials.managerCertPem,
      key: credentials.managerKeyPem,
      ca: credentials.caCertPem,
      crl,
      requestCert: true,
      // The bootstrap certificate must get through to be offered activation, so the verdict is
      // taken per connection in onSecure (and journaled), never left to a silent default.
      rejectUnauthorized: false,
    })
    this.server.on('secureConnection', (socket) => this.track(this.onSecure(socket)))
    this.server.on('tlsClientError', (error, socket) => this.onHandshakeFailure(error, socket))
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
  }

  static async create(manager: ManagerContext): Promise<HeartbeatListener> {
    return new HeartbeatListener(manager, await currentCrl(manager))
  }

  /** Reload the CRL into the server context when it changed (a revocation by any process, a re-issue). */
  async refreshRevocations(): Promise<void> {
    const crl = await currentCrl(this.manager)
    if (crl === this.crl) return
    this.crl = crl
    const {credentials} = this.manager
    this.server.setSecureContext({...TLS_POLICY, cert: credentials.managerCertPem, key: credentials.managerKeyPem, ca: credentials.caCertPem, crl})
  }

  async listen(port: number, host: string): Promise<{host: string; port: number}> {
    return listenOn(this.server, port, host)
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve())
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

  private async onSecure(socket: tls.TLSSocket): Promise<void> {
    const peer = peerCertificate(socket)
    const isBootstrap = isBootstrapCertificate(peer)
    if (!isBootstrap && !socket.authorized) {
      const code = peer ? String(socket.authorizationError ?? 'UNVERIFIED') : 'PEER_DID_NOT_RETURN_A_CERTIFICATE'
      // With CRL checking on, OpenSSL reports a foreign issuer as "unable to get CRL": name what it is.
      const foreign = peer && !issuedBy(peer, this.manager.credentials.caCert)
      const {reason, detail} = foreign
        ? {reason: isSelfSigned(peer) ? 'self-signed' : 'unknown-ca', detail: `${code}: the certificate is not issued by this manager's CA (issuer ${oneLineName(peer.issuer)})`}
        : classifyTlsError(Object.assign(new Error(code), {code}))
      this.journal(socket, peer, {context: 'mutual', result: 'refused', reason, detail})
      socket.destroy()
      return
    }

    const session = new HttpSession(socket)
    try {
      if (isBootstrap) {
        this.journal(socket, peer, {context: 'bootstrap', result: 'accepted', reason: 'activation-request'})
        await this.agentInitiatedActivation(session, socket)
        return
      }

      const sha256 = fingerprint(peer!)
      const waiting = this.pending.get(sha256)
      if (waiting) {
        this.journal(socket, peer, {context: 'mutual', result: 'accepted', reason: 'activation-confirmation'})
        this.pending.delete(sha256)
        waiting.resolve(session)
        return
      }

      const {store} = this.manager
      if (await store.certificates.isRevoked(sha256)) {
        // The CRL in the context refuses it in the handshake; this covers the moment before reload.
        this.journal(socket, peer, {context: 'mutual', result: 'refused', reason: 'revoked'})
        session.close()
        return
      }

      const computer = await store.computers.byCertificate(sha256)
      if (!computer || !['activated', 'deactivation-pending'].includes(computer.state) || computer.certSha256 !== sha256) {
        if (!computer && !(await store.certificates.isIssued(sha256))) {
          // Issued by this CA but unknown to the registry: the reactivation setting decides.
          try {
            await reactivateAsNewComputer(this.manager, session, 'unknown')
            this.journal(socket, peer, {context: 'mutual', result: 'accepted', reason: 'reactivated-unknown'})
          } catch (error) {
            this.journal(socket, peer, {context: 'mutual', result: 'refused', reason: isTetherError(error) ? error.code : 'unknown-agent', detail: (error as Error).message})
            await reportRefusal(session, error)
          }

          session.close()
          return
        }

        this.journal(socket, peer, {context: 'mutual', result: 'refused', reason: 'unknown-agent', detail: computer ? `computer ${computer.id} is ${computer.state}` : 'no computer holds this certificate'})
        session.close()
        return
      }

      this.journal(socket, peer, {context: 'mutual', result: 'accepted', reason: 'heartbeat'})
      try {
        await settleContact(this.manager, computer, await runContact(this.manager, session, computer))
      } catch (error) {
        if (isTetherError(error) && error.code === 'cloned-agent') this.journal(socket, peer, {context: 'mutual', result: 'refused', reason: 'cloned-agent', detail: error.message})
        throw error
      }
    } catch {
      // Each failure was journaled or reported to the agent; one agent's failure ends only its session.
      session.close()
    }
  }

  /** The manager's half of `dsa_control -a`: check the request against settings, then activate. */
  private async agentInitiatedActivation(session: HttpSession, socket: tls.TLSSocket): Promise<void> {
    const peer = peerCertificate(socket)
    let hostInfo: HostInfo
    try {
      hostInfo = await session.command('GetHostInfo')
    } catch {
      session.close()
      return
    }

    const report = async (verdict: ActivationReport, on: HttpSession = session) => {
      try {
        await on.command('ReportActivationResult', verdict)
      } finally {
        on.close()
      }
    }

    let plan: ActivationPlan
    try {
      plan = await planAgentInitiated(this.manager, hostInfo)
    } catch (error) {
      const failure = isTetherError(error) ? error : new TetherError('internal', 'internal', (error as Error).message)
      this.journal(socket, peer, {context: 'bootstrap', result: 'refused', reason: failure.code, detail: failure.message})
      await report({status: failure.failure === 'refused' && failure.code.startsWith('duplicate') ? 409 : 403, reason: failure.code, message: failure.message, hint: failure.hint}).catch(() => undefined)
      return
    }

    let confirmation: HttpSession | undefined
    try {
      const computer = await completeActivation(this.manager, {
        session,
        confirm: async (expectedSha256) => {
          confirmation = await this.awaitConfirmation(expectedSha256)
          return confirmation.command('GetAgentStatus')
        },
      }, hostInfo, plan.request)
      // The assigned policy goes over the confirming session, before the verdict (classic transcript).
      const delivery = computer.policy && confirmation ? await deliverPolicyNow(this.manager, confirmation, computer) : undefined
      const warnings = [...plan.warnings, ...(delivery ? [delivery] : [])]
      await report({status: 200, reason: 'OK', message: `activated as computer ${computer.id}`, computer: {id: computer.id, guid: computer.guid, hostname: computer.hostname}, ...(warnings.length > 0 ? {warnings} : {})}, confirmation)
    } catch (error) {
      const failure = isTetherError(error) ? error : new TetherError('internal', 'internal', (error as Error).message)
      this.journal(socket, peer, {context: 'bootstrap', result: 'failed', reason: failure.code, detail: failure.message})
      if (confirmation) await report({status: 500, reason: failure.code, message: failure.message, hint: failure.hint}, confirmation).catch(() => undefined)
      session.close()
    }
  }

  private awaitConfirmation(sha256: string): Promise<HttpSession> {
    return new Promise<HttpSession>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(sha256)
        reject(new TetherError('unreachable', 'confirmation-timeout', 'the agent did not come back over mutual TLS to confirm its activation'))
      }, CONFIRMATION_TIMEOUT_MS)
      this.pending.set(sha256, {
        resolve(session) {
          clearTimeout(timer)
          resolve(session)
        },
      })
    })
  }
}

interface ActivationPlan {
  request: ActivationRequest
  /** What was asked but not applied (a policy not found), told to the agent. */
  warnings: string[]
}

/**
 * Decide an agent-initiated activation from the settings: enabled, token, tenant, hostname,
 * duplicates, clock skew. Throws the refusal the agent is told.
 */
export async function planAgentInitiated(manager: ManagerContext, hostInfo: HostInfo): Promise<ActivationPlan> {
  const {store} = manager
  const settings = await getSettings(store)
  const args = hostInfo.activationRequest ?? {}
  if (settings.agentInitiatedActivation === 'off') {
    throw new TetherError('refused', 'agent-initiated-activation-off', 'agent-initiated activation is turned off on this manager', {
      hint: 'activate the agent from the manager (tether manager activate), or enable it: dsm_c -action changesetting -name settings.configuration.agentInitiatedActivation -value 1',
    })
  }

  if (settings.activationToken !== '' && args.token !== settings.activationToken) {
    throw new TetherError('refused', args.token === undefined ? 'token-required' : 'bad-token', args.token === undefined ? 'this manager requires an activation token' : 'the activation token is wrong', {
      hint: 'pass token:SECRET with the token set on the manager (activationToken)',
    })
  }

  const {tenantId} = await store.meta.identity()
  if (args.tenantID !== undefined && args.tenantID.toUpperCase() !== tenantId) {
    throw new TetherError('refused', 'tenant-mismatch', `tenantID ${args.tenantID} is not this manager's tenant`, {
      hint: 'use the tenant ID `tether manager show` prints on the manager you mean',
    })
  }

  checkClockSkew(hostInfo.clock, manager.now(), settings.maxClockSkewSeconds * 1000)
  const hostname = settings.allowAgentHostname && args.hostname ? args.hostname : hostInfo.hostname
  const existing = await store.computers.byHostname(hostname)
  if (settings.agentInitiatedActivation === 'known' && existing.length === 0) {
    throw new TetherError('refused', 'unknown-computer', `no computer named ${hostname} is known to this manager, and agent-initiated activation is limited to known computers`, {
      hint: 'add the computer first (activate it once from the manager), or allow any computer: agentInitiatedActivation any',
    })
  }

  const {guid} = await duplicatePlan(manager, hostname)
  const {policy, warning} = await requestedPolicy(store, args)
  const mode = settings.communicationMode
  // No managerAddress unless a load balancer is set: the agent keeps the address it dialled.
  const balancer = settings.loadBalancerHeartbeatHostname ? await advertisedHeartbeatAddress(store) : undefined

  return {
    request: {
      guid,
      hostname,
      displayName: args.displayname,
      description: args.description,
      group: groupPath(args.group),
      policy: policy?.name,
      mode,
      communication: {mode, heartbeatSeconds: settings.heartbeatIntervalSeconds, ...(balancer ? {managerAddress: balancer} : {})},
    },
    warnings: warning ? [warning] : [],
  }
}
