import net from 'node:net'

import {connectTls, parseHostPort} from '../channel/connect.js'
import {skipHostnameCheck} from '../channel/tls.js'
import {TetherError, isTetherError} from '../errors.js'
import {fingerprint, parseCertificate} from '../pki/certificate.js'
import {DEFAULT_MANAGER_PORT} from '../platform/paths.js'
import type {ActivationReport, ActivationRequestArgs, HeartbeatRequest} from '../protocol/messages.js'
import type {KeyPairPem} from '../pki/keys.js'
import {bootstrapIdentity} from '../pki/bootstrap.js'
import type {SessionContext} from './handlers.js'
import {managerProxy} from './proxy-settings.js'
import type {AgentRuntime} from './server.js'

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
  options.progress?.line(`Attempting to connect to https://${net.isIPv6(host) ? `[${host}]` : host}:${port}/`)
  // Before activation there is nothing to verify the manager against: trust starts here.
  const first = await journaled(runtime, address, 'bootstrap', () => connectTls({host, port, cert: bootstrap.certPem, key: bootstrap.keyPem, rejectUnauthorized: false, proxy}))
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

/** Run a connect, journaling its failure on the agent's side (with a hint for the operator). */
async function journaled<T>(runtime: AgentRuntime, address: string, context: 'bootstrap' | 'mutual', connect: () => Promise<T>): Promise<T> {
  try {
    return await connect()
  } catch (error) {
    runtime.journalOutboundFailure(address, context, error as Error)
    if (isTetherError(error) && error.failure === 'trust' && !error.hint) {
      throw new TetherError('trust', error.code, error.message, {
        hint: context === 'mutual'
          ? "the manager's certificate no longer chains to the CA this agent was activated with (was the manager re-created?): reset the agent (`dsa_control -r`) and activate it again"
          : 'check the manager address and `tether handshake inspect` it',
        cause: error,
      })
    }

    throw error
  }
}

/** Open a mutual-TLS connection to the manager with the agent's credentials. */
export async function connectMutualToManager(runtime: AgentRuntime, address: string) {
  const {host, port} = parseHostPort(address, DEFAULT_MANAGER_PORT)
  const store = runtime.store
  return journaled(runtime, address, 'mutual', () => connectTls({
    host,
    port,
    cert: store.read('cert'),
    key: store.read('key'),
    // The manager must present a certificate from the CA this agent was activated with.
    ca: store.read('dsmCaCert'),
    rejectUnauthorized: true,
    checkServerIdentity: skipHostnameCheck,
    proxy: managerProxy(store),
  }))
}

export interface HeartbeatResult {
  address: string
  at: string
  /** What the manager did not apply of a dsa_control -m request (a policy not found...). */
  warnings?: string[]
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

  const socket = await connectMutualToManager(runtime, communication.managerAddress)
  const session = await runtime.serveOutbound(socket, 'mutual', request ? {heartbeatRequest: request} : {})
  if (session.report && session.report.status !== 200) {
    throw new TetherError('refused', session.report.reason || 'refused-by-manager', `the manager refused this agent: ${session.report.message}`, {hint: session.report.hint})
  }

  if (session.requests === 0) {
    // The manager is the HTTP client: closing without a single request is how it refuses.
    throw new TetherError('refused', 'refused-by-manager', `the manager at ${communication.managerAddress} closed the connection without a request: it does not accept this agent's certificate (revoked, unknown to it, or cloned)`, {
      hint: 'see `tether handshake log` on the manager; to start over, reset the agent (`dsa_control -r`) and activate it again',
    })
  }

  return {address: communication.managerAddress, at: runtime.now().toISOString(), ...(session.report?.warnings ? {warnings: session.report.warnings} : {})}
}

/** Whether this agent should send heartbeats on its own (its mode lets it). */
export function heartbeatInterval(runtime: AgentRuntime): number | undefined {
  if (runtime.store.state() !== 'activated') return undefined
  const communication = runtime.store.communication()
  if (!communication?.managerAddress || communication.mode === 'manager-initiated') return undefined
  return communication.heartbeatSeconds
}
