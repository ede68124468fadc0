import {X509Certificate} from 'node:crypto'
import net from 'node:net'
import type tls from 'node:tls'

import {parseHostPort} from '../channel/address.js'
import {connectTls} from '../channel/connect.js'
import {peerCertificate, skipHostnameCheck} from '../channel/tls.js'
import {TetherError, isTetherError} from '../errors.js'
import {fingerprint, issuedBy, parseCertificate} from '../pki/certificate.js'
import {hasManagerRole} from '../pki/roles.js'
import {isEnrolmentToken, parseEnrolmentToken} from '../protocol/enrolment-token.js'
import {DEFAULT_MANAGER_PORT} from '../platform/paths.js'
import type {ActivationReport, ActivationRequestArgs, HeartbeatRequest} from '../protocol/messages.js'
import type {KeyPairPem} from '../pki/keys.js'
import {bootstrapIdentity} from '../pki/bootstrap.js'
import type {SessionContext} from './handlers.js'
import {managerProxy} from './proxy-settings.js'
import type {AgentRuntime} from './server.js'
import {FailedAddress, heartbeatWithFailover} from './failover.js'

/**
 * Connections the agent opens to its manager: heartbeats and agent-initiated activation. The
 * agent only ever opens the TCP connection; over it, the manager sends the requests.
 */

/** `dsm://HOST:PORT/` (port defaults to 4120); anything else is a usage error. */
export function parseManagerUrl(url: string): {host: string; port: number; address: string} {
  const match = /^dsm:\/\/([^/\s]+?)\/?$/i.exec(url.trim())
  if (!match) {
    throw new TetherError('usage', 'bad-manager-url', `"${url}" is not a manager URL`, {hint: 'write it as dsm://HOST:PORT/, e.g. dsm://dsm.example.internal:4120/'})
  }

  const {host, port} = parseHostPort(match[1], DEFAULT_MANAGER_PORT)
  return {host, port, address: `${host}:${port}`}
}

/** What dsa_control prints as the session goes (one line per step and per command received). */
export interface SessionProgress {
  line(text: string): void
}

export interface ActivationOptions {
  progress?: SessionProgress
  /** The key pair of this activation, shared by its attempts (so a retry is the same agent). */
  generateKeys?: () => Promise<KeyPairPem>
}

/** Ask the manager at `url` to activate this agent (dsa_control -a). Resolves with its verdict. */
export async function activateWithManager(runtime: AgentRuntime, url: string, args: ActivationRequestArgs, options: ActivationOptions = {}): Promise<ActivationReport> {
  const {host, port, address} = parseManagerUrl(url)
  const store = runtime.store
  const state = store.state()
  if (state === 'pre-activated') {
    const bound = parseCertificate(store.read('dsmCert')!, 'ds_agent_dsm.crt')
    throw new TetherError('trust', 'bound-agent-refuses-agent-initiated', `this agent is bound to the manager with certificate SHA-256 ${fingerprint(bound)} (pre-activated); agent-initiated activation is refused by design`, {
      hint: 'activate it from that manager (`tether manager activate`), or clear the binding explicitly (`tether agent reset --unbind`)',
      // Refused by design (a policy of this agent), not an authentication failure.
      details: {httpStatus: 403},
    })
  }

  if (state === 'activated') {
    throw new TetherError('refused', 'already-activated', 'this agent is already activated', {hint: 'reset it first (`dsa_control -r`), then activate again', details: {httpStatus: 403}})
  }

  const bootstrap = bootstrapIdentity()
  const proxy = managerProxy(store)
  // Before activation there is nothing to verify the manager against, unless an enrolment token
  // names its CA: then the manager must chain to that CA before anything is sent.
  const pinned = args.token !== undefined && isEnrolmentToken(args.token) ? parseEnrolmentToken(args.token).caSha256 : undefined
  options.progress?.line(`Attempting to connect to https://${net.isIPv6(host) ? `[${host}]` : host}:${port}/`)
  const first = await journaled(runtime, address, 'bootstrap', async () => {
    const socket = await connectTls({host, port, cert: bootstrap.certPem, key: bootstrap.keyPem, rejectUnauthorized: false, proxy})
    if (pinned) checkPinnedManager(socket, pinned, address)
    return socket
  })
  options.progress?.line('SSL handshake completed successfully - initiating command session.')
  const session = await runtime.serveOutbound(first, 'bootstrap', {activationRequest: args, managerAddress: address, ...sessionHooks(options)})
  if (session.report && session.report.status !== 200) return session.report
  if (store.state() !== 'activated') {
    throw new TetherError('unreachable', 'activation-incomplete', `the manager at ${address} closed the connection before activating this agent`, {
      hint: 'check the manager log (tether handshake log) and retry',
    })
  }

  // Confirmation over mutual TLS: the manager records the computer only after this.
  const confirm = await connectMutualToManager(runtime, address)
  const confirmed = await runtime.serveOutbound(confirm, 'mutual', sessionHooks(options))
  return confirmed.report ?? {status: 200, reason: 'OK', message: 'activated; the manager did not report details'}
}

/** The session extras an activation passes: progress per command, the shared key pair. */
function sessionHooks(options: ActivationOptions): Partial<SessionContext> {
  return {
    ...(options.progress ? {onCommand: (name: string) => options.progress!.line(`Received a '${name}' command from the manager.`)} : {}),
    ...(options.generateKeys ? {generateKeys: options.generateKeys} : {}),
  }
}

/**
 * The manager presents its CA behind its certificate; the one the token names must be there, the
 * manager certificate must lead to it (directly, or during a CA rotation through the new CA's
 * certificate cross-signed by the old one), and it must have the manager role.
 */
function checkPinnedManager(socket: tls.TLSSocket, caSha256: string, address: string): void {
  const chain: X509Certificate[] = []
  for (let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); cert?.raw && !chain.some((c) => c.raw.equals(cert!.raw)); cert = cert.issuerCertificate) {
    chain.push(new X509Certificate(cert.raw))
  }

  const [leaf] = chain
  const at = chain.findIndex((cert) => fingerprint(cert) === caSha256)
  const linked = at > 0 && at <= 2 && chain.slice(0, at).every((cert, i) => issuedBy(cert, chain[i + 1]) && (i === 0 || chain[i].ca))
  if (!leaf || !linked || !hasManagerRole(leaf)) {
    socket.destroy()
    throw new TetherError('trust', 'manager-not-of-token-ca', `the server at ${address} is not a manager of the CA the enrolment token names (SHA-256 ${caSha256}); nothing was sent to it`, {
      hint: 'check the manager address; the token is for the manager installation that created it',
    })
  }
}

/** Run a connect, journaling its failure on the agent's side (with a hint for the operator). */
async function journaled<T>(runtime: AgentRuntime, address: string, context: 'bootstrap' | 'mutual', connect: () => Promise<T>): Promise<T> {
  try {
    return await connect()
  } catch (error) {
    runtime.journalOutboundFailure(address, context, error as Error)
    if (isTetherError(error) && error.failure === 'trust' && !error.hint) {
      // A problem of time is fixed by the clock or the manager, never by resetting the agent.
      const hint = MANAGER_REFUSAL_HINTS[error.code] ?? (context === 'mutual' && ['unknown-ca', 'self-signed'].includes(error.code)
        ? "the manager's certificate does not chain to the CA this agent was activated with (was the manager re-created?): check the address with `tether handshake inspect`; if it is the right manager, reset the agent (`dsa_control -r`) and activate it again"
        : 'check the manager address and `tether handshake inspect` it')
      throw new TetherError('trust', error.code, error.message, {hint, cause: error})
    }

    throw error
  }
}

/** What to do when the manager's certificate is refused for one of the agent's own reasons. */
const MANAGER_REFUSAL_HINTS: Record<string, string> = {
  'not-a-manager': "point the agent at its manager's heartbeat address: the server there holds a certificate of this CA without the manager role",
  revoked: "the manager's certificate was revoked: the manager issues itself a new one when it starts (`tether manager start`); nothing to do on the agent",
  expired: "the manager's certificate has expired, or a clock is wrong: check both clocks (NTP); a running manager renews its certificate before it expires",
  'not-yet-valid': "a clock is wrong: the manager's certificate is not valid yet by this machine's clock; fix the clock (NTP)",
}

/** Open a mutual-TLS connection to the manager with the agent's credentials. */
export async function connectMutualToManager(runtime: AgentRuntime, address: string) {
  const {host, port} = parseHostPort(address, DEFAULT_MANAGER_PORT)
  const store = runtime.store
  return journaled(runtime, address, 'mutual', async () => {
    const socket = await connectTls({
      host,
      port,
      cert: store.read('cert'),
      key: store.read('key'),
      // The manager must present a certificate from the CA this agent was activated with...
      ca: store.read('dsmCaCert'),
      rejectUnauthorized: true,
      checkServerIdentity: skipHostnameCheck,
      proxy: managerProxy(store),
    })
    // ...and be a manager's: the role, and not revoked. Checked before any HTTP byte is served.
    const refusal = runtime.refuseAsManager(socket, peerCertificate(socket))
    if (refusal) {
      socket.destroy()
      throw new TetherError('trust', refusal.reason, `the server at ${address} is not this agent's manager: ${refusal.detail}`, {hint: MANAGER_REFUSAL_HINTS[refusal.reason]})
    }

    return socket
  })
}

export interface HeartbeatResult {
  /** The manager address that served the heartbeat. */
  address: string
  at: string
  /** What the manager did not apply of a dsa_control -m request (a policy not found...). */
  warnings?: string[]
  /** Addresses tried first that did not serve it (manager nodes down). */
  failedOver?: FailedAddress[]
}

/** One heartbeat: connect to the manager and answer what it asks until it closes. */
export async function heartbeatOnce(runtime: AgentRuntime, request?: HeartbeatRequest): Promise<HeartbeatResult> {
  if (runtime.store.state() !== 'activated') {
    throw new TetherError('refused', 'not-activated', 'this agent is not activated, so it has no manager to send heartbeats to', {
      hint: 'activate it first (dsa_control -a dsm://HOST:PORT/)',
    })
  }

  const communication = runtime.store.communication()
  if (!communication?.managerAddress) {
    throw new TetherError('refused', 'no-manager-address', 'this agent has no manager heartbeat address (it was activated by a manager that did not advertise one)', {
      hint: 'set heartbeatAddress on the manager (tether manager settings set heartbeatAddress HOST:4120) and push it, or reactivate with dsa_control -a',
    })
  }

  if (communication.mode === 'manager-initiated') {
    throw new TetherError('refused', 'manager-initiated-mode', 'this computer is in manager-initiated mode: the agent never opens a connection to the manager', {
      hint: 'the manager contacts it (tether manager send-policy, or its next scheduled contact); or change its mode on the manager (tether manager computers set COMPUTER --mode bidirectional)',
      details: {httpStatus: 403},
    })
  }

  // Several manager nodes: the next address is tried on the same heartbeat when one does not serve it.
  return heartbeatWithFailover(runtime, communication, (address) => heartbeatTo(runtime, address, request))
}

async function heartbeatTo(runtime: AgentRuntime, address: string, request?: HeartbeatRequest): Promise<HeartbeatResult> {
  let session = await runtime.serveOutbound(await connectMutualToManager(runtime, address), 'mutual', request ? {heartbeatRequest: request} : {})
  // Renewed in this contact: the agent comes back at once with the new certificate, which is how
  // the manager learns it was installed (it then supersedes the old one).
  if (session.renewed) session = await runtime.serveOutbound(await connectMutualToManager(runtime, address), 'mutual')
  if (session.report && session.report.status !== 200) {
    throw new TetherError('refused', session.report.reason || 'refused-by-manager', `the manager refused this agent: ${session.report.message}`, {hint: session.report.hint})
  }

  if (session.requests === 0) {
    // The manager is the HTTP client: closing without a single request is how it refuses.
    throw new TetherError('refused', 'refused-by-manager', `the manager at ${address} closed the connection without a request: it does not accept this agent's certificate (revoked, unknown to it, or cloned)`, {
      hint: 'see `tether handshake log` on the manager; to start over, reset the agent (`dsa_control -r`) and activate it again',
    })
  }

  return {address, at: runtime.now().toISOString(), ...(session.report?.warnings ? {warnings: session.report.warnings} : {})}
}

/** Whether this agent should send heartbeats on its own (its mode lets it). */
export function heartbeatInterval(runtime: AgentRuntime): number | undefined {
  if (runtime.store.state() !== 'activated') return undefined
  const communication = runtime.store.communication()
  if (!communication?.managerAddress || communication.mode === 'manager-initiated') return undefined
  return communication.heartbeatSeconds
}
