import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

import {bootstrapIdentity} from '../pki/bootstrap.js'
import type {ManagerStore} from '../manager/store/store.js'
import {DsaCore, type AgentState} from '../agent/store.js'
import {TetherError, errnoCode, type FailureClass} from '../errors.js'
import {DEFAULT_MAX_CLOCK_SKEW_MS} from '../manager/clock.js'
import {trustAnchors} from '../manager/connections.js'
import {classifyPeer} from '../pki/peer.js'
import {getSettings} from '../manager/settings.js'
import {ManagerHome, type ManagerCredentials} from '../manager/home.js'
import {fingerprint, issuedBy, oneLineName, subjectAltNames, validityProblem} from '../pki/inspect.js'
import {DEFAULT_AGENT_PORT, DEFAULT_MANAGER_PORT, MANAGER_HOME_ENV, resolveDsaCore, resolveManagerHome} from '../platform/paths.js'
import {parseHostPort} from './connect.js'
import {HttpSession} from './http-session.js'
import {classifyTlsError} from './journal.js'
import {TLS_POLICY} from './tls.js'
import {WireTap, analyzeHandshake, signatureAlgorithm, type WireHandshake} from './wire.js'

/**
 * `tether handshake inspect`: connect to any TLS endpoint as the manager, as an agent or as
 * nobody, and say what happened in tether's terms. The connection never rejects the peer by
 * itself (rejectUnauthorized: false) so the peer's chain is always captured; every verdict is
 * computed here from what the handshake showed.
 */

export type ProbeIdentity = 'manager' | 'agent' | 'anonymous'
export const PROBE_IDENTITIES: ProbeIdentity[] = ['manager', 'agent', 'anonymous']

export interface InspectRequest {
  /** HOST[:PORT]; the default port is the agent's (4118), or the manager's heartbeat port (4120) with --as agent. */
  target: string
  as?: ProbeIdentity
  /** The --home and --dsa-core flag values as given (undefined: not given). */
  home?: string
  dsaCore?: string
  servername?: string
  keylog?: string
  alpn?: string[]
  /** Skip the read-only GetHostInfo a tether agent is asked after the handshake. */
  handshakeOnly?: boolean
  timeoutMs?: number
  /** TLS 1.3 only: how long to wait for the peer to refuse our certificate after the handshake. */
  settleMs?: number
  env?: NodeJS.ProcessEnv
  now?: Date
}

export type PeerKind = 'bootstrap' | 'own-agent' | 'own-manager' | 'foreign' | 'unknown' | 'none'

export type VerdictStatus = 'pass' | 'fail' | 'skip'

export interface Verdict {
  status: VerdictStatus
  /** Stable, machine-readable (see the README's table). */
  code: string
  detail: string
}

export type VerdictName = 'chain' | 'binding' | 'revocation' | 'clientCertificate' | 'clock'

export interface CertificateDetail {
  depth: number
  subject: string
  issuer: string
  subjectAltNames: string[]
  notBefore: string
  notAfter: string
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number
  validity: 'valid' | 'expired' | 'not-yet-valid'
  key: string
  signatureAlgorithm: string
  serial: string
  sha256: string
  isCA: boolean
  selfSigned: boolean
  /** Whether the peer sent this certificate itself (false: completed from our trust store); undefined if unknown. */
  sentByPeer?: boolean
}

export type FailureStage = 'tcp-connect' | 'tls-handshake' | 'client-certificate' | 'verification' | 'agent-answer'

export interface InspectFailure {
  stage: FailureStage
  reason: string
  message: string
  openssl?: {code?: string; error?: string; alert?: number; verifyResult?: number}
  fix: string
}

export interface InspectReport {
  target: string
  as: ProbeIdentity
  /** Why this identity: given with --as, or the default and what it was based on. */
  asSource: string
  presented?: {subject: string; sha256: string; source: string}
  trust: {managerHome?: string; dsaCore?: string; agentState?: AgentState; anchor?: string}
  handshake: {
    completed: boolean
    protocol?: string
    cipher?: string
    cipherStandardName?: string
    keyExchange?: {type?: string; name?: string; size?: number}
    alpn?: string | false
    resumed?: boolean
    sessionTickets: number
    servername?: string
  }
  peer: {kind: PeerKind; description: string; chainSource: 'tls' | 'wire' | 'none'; chain: CertificateDetail[]}
  clientCertificate: {requested?: boolean; acceptableCAs?: string[]; sent: boolean; accepted?: boolean}
  agentAnswer?: {command: 'GetHostInfo'; status?: number; hostname?: string; state?: string; clock?: string; certificateSha256?: string; error?: {code?: string; message: string}}
  verdicts: Record<VerdictName, Verdict>
  ok: boolean
  failure?: InspectFailure
  keylog?: {file: string; lines: number}
}

// --- who we are and what we trust ---

interface Perspective {
  as: ProbeIdentity
  asSource: string
  identity?: {certPem: string; keyPem: string; certificate: crypto.X509Certificate; source: string}
  manager?: {home: ManagerHome; credentials: ManagerCredentials}
  agent?: {dsaCore: string; state: AgentState; caPem?: string; ca?: crypto.X509Certificate; dsm?: crypto.X509Certificate}
  anchor?: {pem: string; certificate: crypto.X509Certificate; source: string}
}

function managerHomeExists(dir: string): boolean {
  return fs.existsSync(new ManagerHome(dir).file('managerCert'))
}

/**
 * The default identity: the manager when --home is given, an agent when --dsa-core is given,
 * else the manager when a manager home is found ($TETHER_MANAGER_HOME or the per-user default),
 * else anonymous.
 */
export function defaultIdentity(request: Pick<InspectRequest, 'home' | 'dsaCore' | 'env'>): {as: ProbeIdentity; source: string} {
  const env = request.env ?? process.env
  if (request.home) return {as: 'manager', source: 'default: --home given'}
  if (request.dsaCore) return {as: 'agent', source: 'default: --dsa-core given'}
  const home = resolveManagerHome(undefined, env)
  if (managerHomeExists(home)) return {as: 'manager', source: `default: manager home found at ${home}${env[MANAGER_HOME_ENV] ? ` ($${MANAGER_HOME_ENV})` : ''}`}
  return {as: 'anonymous', source: 'default: no manager home found'}
}

function loadPerspective(request: InspectRequest): Perspective {
  const env = request.env ?? process.env
  const chosen = request.as ? {as: request.as, source: '--as'} : defaultIdentity(request)
  const perspective: Perspective = {as: chosen.as, asSource: chosen.source}
  if (chosen.as === 'manager' && request.dsaCore) {
    throw new TetherError('usage', 'conflicting-flags', '--dsa-core applies to --as agent or --as anonymous, not --as manager', {
      hint: 'drop --dsa-core, or probe with --as agent',
    })
  }

  // The manager's material: required as the manager; used when given (or found) otherwise, to
  // classify the peer, verify its chain to the CA and look up revocation.
  const homeDir = resolveManagerHome(request.home, env)
  const wantHome = chosen.as === 'manager' || Boolean(request.home) || (chosen.as === 'anonymous' && managerHomeExists(homeDir))
  if (wantHome) {
    const home = new ManagerHome(homeDir)
    perspective.manager = {home, credentials: home.loadCredentials()}
  }

  // The agent's material: required as an agent; with --dsa-core when anonymous.
  if (chosen.as === 'agent' || request.dsaCore) {
    const store = new DsaCore(resolveDsaCore(request.dsaCore, {env}))
    if (!store.exists()) {
      throw new TetherError('notFound', 'dsa-core-missing', `no agent dsa_core at ${store.dir}`, {
        hint: 'point --dsa-core / $TETHER_DSA_CORE at the agent\'s dsa_core directory',
      })
    }

    const state = store.state()
    const caPem = state === 'activated' ? store.read('dsmCaCert') : undefined
    const dsmPem = store.read('dsmCert')
    perspective.agent = {
      dsaCore: store.dir,
      state,
      caPem,
      ca: caPem ? new crypto.X509Certificate(caPem) : undefined,
      dsm: dsmPem ? new crypto.X509Certificate(dsmPem) : undefined,
    }
    if (chosen.as === 'agent') {
      if (state === 'activated') {
        const certPem = store.read('cert')!
        perspective.identity = {certPem, keyPem: store.read('key')!, certificate: new crypto.X509Certificate(certPem), source: `${store.file('cert')}`}
      } else {
        // Before activation an agent has only the shipped bootstrap certificate to present.
        const bootstrap = bootstrapIdentity()
        perspective.identity = {certPem: bootstrap.certPem, keyPem: bootstrap.keyPem, certificate: bootstrap.certificate, source: `bootstrap certificate (agent ${state})`}
      }
    }
  }

  if (chosen.as === 'manager') {
    const {credentials, home} = perspective.manager!
    perspective.identity = {certPem: credentials.managerCertPem, keyPem: credentials.managerKeyPem, certificate: credentials.managerCert, source: home.file('managerCert')}
  }

  // The CA the peer's chain must verify to: the agent's stored CA when probing as the agent, else the manager's.
  if (perspective.agent?.caPem && (chosen.as === 'agent' || !perspective.manager)) {
    perspective.anchor = {pem: perspective.agent.caPem, certificate: perspective.agent.ca!, source: `${perspective.agent.dsaCore}/ds_agent_dsm_ca.crt`}
  } else if (perspective.manager) {
    const {credentials, home} = perspective.manager
    perspective.anchor = {pem: credentials.caCertPem, certificate: credentials.caCert, source: home.file('caCert')}
  }

  return perspective
}

function classify(cert: crypto.X509Certificate | undefined, perspective: Perspective): PeerKind {
  if (!cert) return 'none'
  if (cert.raw.equals(bootstrapIdentity().certificate.raw)) return 'bootstrap'
  if (perspective.manager) return classifyPeer(cert, trustAnchors(perspective.manager.credentials))
  const agent = perspective.agent
  if (agent?.dsm && cert.raw.equals(agent.dsm.raw)) return 'own-manager'
  if (agent?.ca) return issuedBy(cert, agent.ca) ? 'own-agent' : 'foreign'
  return 'unknown'
}

const KIND_DESCRIPTIONS: Record<PeerKind, string> = {
  bootstrap: 'the shipped bootstrap certificate: an unactivated (or pre-activated) tether agent',
  'own-agent': "an agent certificate issued by this manager's CA",
  'own-manager': "this manager's certificate",
  foreign: "foreign: not issued by this manager's CA",
  unknown: 'unknown: no manager home or activated dsa_core to compare it with',
  none: 'no certificate',
}

// --- the connection ---

interface Snapshot {
  protocol?: string
  cipher?: tls.CipherNameAndProtocol
  keyExchange?: {type?: string; name?: string; size?: number}
  alpn?: string | false
  resumed?: boolean
  authorized: boolean
  authorizationError?: string
  chain: Buffer[]
}

interface Connection {
  tap?: WireTap
  keyLog: Buffer[]
  sessionTickets: number
  snapshot?: Snapshot
  error?: NodeJS.ErrnoException & {reason?: string}
  stage?: FailureStage
  /** After the handshake: did the peer refuse us (alert or close), or show it accepted (data)? */
  after?: {outcome: 'refused' | 'accepted' | 'quiet'; error?: NodeJS.ErrnoException & {reason?: string}}
  answer?: InspectReport['agentAnswer']
}

function snapshot(socket: tls.TLSSocket): Snapshot {
  // Read everything now: on Node 20 these getters crash the process once the socket is closed.
  const chain: Buffer[] = []
  const seen = new Set<string>()
  for (let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); cert?.raw && !seen.has(cert.fingerprint256);) {
    chain.push(cert.raw)
    seen.add(cert.fingerprint256)
    cert = cert.issuerCertificate
  }

  const ephemeral = socket.getEphemeralKeyInfo()
  return {
    protocol: socket.getProtocol() ?? undefined,
    cipher: socket.getCipher(),
    keyExchange: ephemeral && 'type' in ephemeral ? {type: ephemeral.type, name: ephemeral.name, size: ephemeral.size} : undefined,
    alpn: socket.alpnProtocol ?? false,
    resumed: socket.isSessionReused(),
    authorized: socket.authorized,
    authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
    chain,
  }
}

async function tcpConnect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({host, port})
    const timer = setTimeout(() => {
      raw.destroy()
      reject(Object.assign(new Error(`connect ETIMEDOUT ${host}:${port}`), {code: 'ETIMEDOUT'}))
    }, timeoutMs)
    raw.once('connect', () => {
      clearTimeout(timer)
      resolve(raw)
    })
    raw.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

interface KeyLogSink {
  write(line: Buffer): void
  close(): void
  lines: number
}

function openKeyLog(file: string): KeyLogSink {
  let fd: number
  try {
    // Appended, as SSLKEYLOGFILE is: several sessions in one file. Owner-only: these are secrets.
    fd = fs.openSync(file, 'a', 0o600)
    fs.fchmodSync(fd, 0o600)
  } catch (error) {
    throw new TetherError('usage', 'keylog-unwritable', `cannot write the key log ${file} (${errnoCode(error) ?? (error as Error).message})`, {
      hint: 'choose a writable path for --keylog',
    })
  }

  const sink = {
    lines: 0,
    write(line: Buffer) {
      fs.writeSync(fd, line)
      sink.lines++
    },
    close() {
      fs.closeSync(fd)
    },
  }
  return sink
}

async function connect(host: string, port: number, perspective: Perspective, request: InspectRequest, keyLogSink: KeyLogSink | undefined): Promise<{connection: Connection; socket?: tls.TLSSocket}> {
  const timeoutMs = request.timeoutMs ?? 10_000
  const connection: Connection = {keyLog: [], sessionTickets: 0}
  let raw: net.Socket
  try {
    raw = await tcpConnect(host, port, timeoutMs)
  } catch (error) {
    return {connection: {...connection, error: error as NodeJS.ErrnoException, stage: 'tcp-connect'}}
  }

  const tap = new WireTap(raw)
  connection.tap = tap
  const socket = tls.connect({
    ...TLS_POLICY,
    socket: tap,
    cert: perspective.identity?.certPem,
    key: perspective.identity?.keyPem,
    ca: perspective.anchor?.pem,
    rejectUnauthorized: false,
    // tether pins identities by CA and fingerprint, not by DNS name (see channel/tls.ts).
    checkServerIdentity: () => undefined,
    servername: request.servername ?? (net.isIP(host) ? undefined : host),
    ALPNProtocols: request.alpn?.length ? request.alpn : undefined,
  })
  socket.on('keylog', (line: Buffer) => {
    connection.keyLog.push(Buffer.from(line))
    keyLogSink?.write(line)
  })
  socket.on('session', () => connection.sessionTickets++)

  const established = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      connection.error = Object.assign(new Error(`no TLS handshake within ${timeoutMs} ms`), {code: 'ETIMEDOUT'})
      resolve(false)
    }, timeoutMs)
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      connection.snapshot = snapshot(socket)
      resolve(true)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      connection.error = error
      resolve(false)
    })
    socket.once('close', () => {
      clearTimeout(timer)
      if (!connection.snapshot) connection.error ??= Object.assign(new Error('the peer closed the connection during the handshake'), {code: 'ECONNRESET'})
      resolve(false)
    })
  })
  // A late error must not crash the probe: it is recorded where it matters.
  socket.on('error', () => undefined)
  if (!established) {
    connection.stage = 'tls-handshake'
    socket.destroy()
    return {connection}
  }

  return {connection, socket}
}

/**
 * TLS 1.3 moves the server's verdict on our certificate after our Finished: a refusal arrives as
 * an alert or a close once the client already counts the handshake as done. Wait for it.
 */
async function settle(socket: tls.TLSSocket, ms: number): Promise<NonNullable<Connection['after']>> {
  return new Promise((resolve) => {
    const done = (outcome: NonNullable<Connection['after']>) => {
      clearTimeout(timer)
      socket.removeAllListeners('data')
      resolve(outcome)
    }

    const timer = setTimeout(() => done({outcome: 'quiet'}), ms)
    socket.on('data', () => done({outcome: 'accepted'}))
    socket.once('error', (error: NodeJS.ErrnoException) => done({outcome: 'refused', error}))
    socket.once('end', () => done({outcome: 'refused'}))
    socket.once('close', () => done({outcome: 'refused'}))
  })
}

/** Ask a tether agent GetHostInfo (read-only, served in every context): does it accept us, and as what? */
async function askAgent(socket: tls.TLSSocket, timeoutMs: number): Promise<{answer: NonNullable<Connection['answer']>; after: NonNullable<Connection['after']>}> {
  const session = new HttpSession(socket)
  try {
    const reply = await session.call<Record<string, unknown> & {error?: {code?: string; message?: string}}>('GetHostInfo', {}, {timeoutMs})
    const body = reply.body ?? {}
    if (reply.status === 200) {
      return {
        answer: {command: 'GetHostInfo', status: 200, hostname: String(body.hostname ?? ''), state: String(body.state ?? ''), clock: body.clock ? String(body.clock) : undefined, certificateSha256: body.certificateSha256 ? String(body.certificateSha256) : undefined},
        after: {outcome: 'accepted'},
      }
    }

    // An answer, even a refusal, means the TLS session (and our certificate) was accepted.
    return {answer: {command: 'GetHostInfo', status: reply.status, error: {code: body.error?.code, message: body.error?.message ?? `HTTP ${reply.status}`}}, after: {outcome: 'accepted'}}
  } catch (error) {
    const cause = ((error as TetherError).cause ?? error) as NodeJS.ErrnoException
    return {answer: {command: 'GetHostInfo', error: {message: cause.message}}, after: {outcome: 'refused', error: cause}}
  } finally {
    session.close()
  }
}

// --- verdicts ---

const VERIFY_RESULTS: Record<string, number> = {
  UNABLE_TO_GET_ISSUER_CERT: 2,
  CERT_SIGNATURE_FAILURE: 7,
  CERT_NOT_YET_VALID: 9,
  CERT_HAS_EXPIRED: 10,
  DEPTH_ZERO_SELF_SIGNED_CERT: 18,
  SELF_SIGNED_CERT_IN_CHAIN: 19,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 20,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 21,
  CERT_CHAIN_TOO_LONG: 22,
  CERT_REVOKED: 23,
  INVALID_CA: 24,
  INVALID_PURPOSE: 26,
  CERT_UNTRUSTED: 27,
  CERT_REJECTED: 28,
}

function verifyCode(code: string): {reason: string; openssl: InspectFailure['openssl']} {
  // A chain that ends in a root we do not trust is another CA's, not a self-signed peer.
  const reason = code === 'CERT_SIGNATURE_FAILURE' ? 'bad-signature' : code === 'SELF_SIGNED_CERT_IN_CHAIN' ? 'unknown-ca' : classifyTlsError(Object.assign(new Error(code), {code})).reason
  return {reason: reason === 'tls-error' ? 'untrusted' : reason, openssl: {code: `X509_V_ERR_${code}`, verifyResult: VERIFY_RESULTS[code]}}
}

/** OpenSSL's error, as precisely as Node passes it on: its code, the packed error and the alert number. */
function opensslOf(error: (NodeJS.ErrnoException & {reason?: string}) | undefined): InspectFailure['openssl'] {
  if (!error) return undefined
  const packed = /error:([0-9A-F]{8})/i.exec(error.message)?.[1]
  const alert = /SSL alert number (\d+)/.exec(error.message)?.[1]
  if (!packed && !alert && !error.code?.startsWith('ERR_SSL')) return error.code ? {code: error.code} : undefined
  return {code: error.code, error: packed ? `error:${packed.toUpperCase()}` : undefined, alert: alert ? Number(alert) : undefined}
}

/** What OpenSSL would say about the chain, for a handshake that failed before Node could tell us. */
function verifyLocally(chain: crypto.X509Certificate[], anchor: crypto.X509Certificate, now: Date): string | undefined {
  const [leaf] = chain
  const problem = validityProblem(leaf, now)
  if (problem) return problem === 'expired' ? 'CERT_HAS_EXPIRED' : 'CERT_NOT_YET_VALID'
  if (leaf.raw.equals(anchor.raw) || issuedBy(leaf, anchor)) return undefined
  if (chain.slice(1).some((intermediate) => issuedBy(leaf, intermediate) && issuedBy(intermediate, anchor))) return undefined
  if (leaf.checkIssued(leaf) && leaf.verify(leaf.publicKey)) return 'DEPTH_ZERO_SELF_SIGNED_CERT'
  return 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
}

function describeKey(cert: crypto.X509Certificate): string {
  const key = cert.publicKey
  const details = key.asymmetricKeyDetails ?? {}
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      return `RSA ${details.modulusLength ?? '?'}`
    }

    case 'ec': {
      return `EC ${details.namedCurve ?? '?'}`
    }

    default: {
      return String(key.asymmetricKeyType ?? 'unknown').toUpperCase()
    }
  }
}

function detail(cert: crypto.X509Certificate, depth: number, now: Date, sent: Buffer[] | undefined): CertificateDetail {
  const notAfter = new Date(cert.validTo)
  return {
    depth,
    subject: oneLineName(cert.subject),
    issuer: oneLineName(cert.issuer),
    subjectAltNames: subjectAltNames(cert),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000),
    validity: validityProblem(cert, now) ?? 'valid',
    key: describeKey(cert),
    signatureAlgorithm: signatureAlgorithm(cert.raw),
    serial: cert.serialNumber.toUpperCase(),
    sha256: fingerprint(cert),
    isCA: cert.ca,
    selfSigned: cert.checkIssued(cert) && cert.verify(cert.publicKey),
    sentByPeer: sent ? sent.some((der) => der.equals(cert.raw)) : undefined,
  }
}

function revocation(peer: crypto.X509Certificate | undefined, kind: PeerKind, db: {lookup(sha256: string): {revokedAt: string | null; reason: string | null} | undefined} | undefined): Verdict {
  if (!peer || kind !== 'own-agent') return {status: 'skip', code: 'not-issued-here', detail: 'revocation applies to agent certificates this manager issued'}
  if (!db) return {status: 'skip', code: 'no-registry', detail: 'revocation is recorded in the manager registry: give --home to check it'}
  const row = db.lookup(fingerprint(peer))
  if (!row) return {status: 'fail', code: 'not-in-registry', detail: "issued by this manager's CA, but the registry has no record of the certificate"}
  if (row.revokedAt) return {status: 'fail', code: 'revoked', detail: `revoked on ${row.revokedAt}${row.reason ? ` (${row.reason})` : ''}`}
  return {status: 'pass', code: 'not-revoked', detail: 'issued by this manager and not revoked'}
}

function bindingVerdict(peer: crypto.X509Certificate | undefined, perspective: Perspective, connection: Connection): Verdict {
  const agent = perspective.agent
  if (perspective.as === 'agent' && agent) {
    if (!agent.dsm) return {status: 'skip', code: 'not-bound', detail: `no ds_agent_dsm.crt in ${agent.dsaCore}: this agent is not bound and would accept any manager for activation`}
    if (peer?.raw.equals(agent.dsm.raw)) {
      return {status: 'pass', code: 'matches', detail: `the peer presents exactly the ds_agent_dsm.crt certificate (SHA-256 ${fingerprint(agent.dsm)})`}
    }

    return {
      status: 'fail',
      code: 'bound-to-other-manager',
      detail: `this agent is bound to the manager with certificate SHA-256 ${fingerprint(agent.dsm)}; the peer presents ${peer ? fingerprint(peer) : 'no certificate'}`,
    }
  }

  const answer = connection.answer
  if (!answer) return {status: 'skip', code: 'not-checked', detail: 'the binding lives on the agent: only a tether agent that answers GetHostInfo can say whether it accepts us'}
  if (answer.error?.code === 'bound-to-other-manager') return {status: 'fail', code: 'bound-to-other-manager', detail: answer.error.message}
  if (answer.status !== 200) return {status: 'skip', code: 'not-checked', detail: `the agent did not answer GetHostInfo (${answer.error?.message ?? 'no answer'})`}
  switch (answer.state) {
    case 'pre-activated': {
      return {status: 'pass', code: 'bound-to-us', detail: 'the agent is bound to this manager (ds_agent_dsm.crt is our certificate): it accepted us'}
    }

    case 'activated': {
      return {status: 'skip', code: 'activated', detail: 'the agent is activated: its manager and CA certificates now decide, not a binding'}
    }

    default: {
      return {status: 'skip', code: 'not-bound', detail: 'the agent is not bound: any manager may activate it (bind it with `tether agent bind ds_agent_dsm.crt` to restrict that)'}
    }
  }
}

function clockVerdict(answer: Connection['answer'], now: Date, maxSkewMs: number): Verdict {
  if (!answer?.clock || Number.isNaN(Date.parse(answer.clock))) return {status: 'skip', code: 'not-checked', detail: 'only a tether agent reports its clock'}
  const skew = Date.parse(answer.clock) - now.getTime()
  const hours = (Math.abs(skew) / 3_600_000).toFixed(1)
  if (Math.abs(skew) > maxSkewMs) {
    return {status: 'fail', code: 'clock-skew', detail: `the agent's clock is ${hours} hours ${skew > 0 ? 'ahead of' : 'behind'} this machine's; activation refuses more than ${(maxSkewMs / 3_600_000).toFixed(1)} hours`}
  }

  return {status: 'pass', code: 'in-sync', detail: `the agent's clock is within ${hours} hours of this machine's`}
}

// --- what to tell the operator ---

const FAILURE_CLASS: Record<FailureStage, FailureClass> = {
  'tcp-connect': 'unreachable',
  'tls-handshake': 'trust',
  'client-certificate': 'trust',
  verification: 'trust',
  'agent-answer': 'trust',
}

function likelyFix(stage: FailureStage, reason: string, as: ProbeIdentity, where: string): string {
  const weRefuse = stage === 'verification'
  switch (reason) {
    case 'connection-refused': {
      return `nothing is listening at ${where}: start the agent (\`tether agent start\`) or the manager there, or check the address and port`
    }

    case 'timeout': {
      return `${where} did not answer in time: check the address, the port and any firewall between here and there`
    }

    case 'unreachable': {
      return `check the address ${where} and that it resolves and is routable from here`
    }

    case 'no-client-certificate': {
      return 'the peer requires a client certificate (an activated agent, or a manager\'s heartbeat port): probe as the manager (--as manager --home DIR) or as its agent (--as agent --dsa-core DIR)'
    }

    case 'unknown-ca':
    case 'untrusted': {
      if (weRefuse && as === 'agent') return 'wrong manager: the peer is not the manager this agent was activated by; point the agent at its own manager, or reset it (`dsa_control -r`) and activate it again'
      if (weRefuse) return 'wrong manager: the peer holds a certificate from another CA; if it is an agent activated by another manager, deactivate it there or reset it (`dsa_control -r`), then activate it from this one'
      if (as === 'agent') return 'wrong manager: the peer does not trust this agent\'s CA, so it is not the manager that activated this agent; connect to that manager, or reset the agent (`dsa_control -r`) and activate it from this one'
      return 'the peer does not trust our certificate\'s CA (it belongs to another manager): reset the agent (`dsa_control -r`) and activate it from this manager, or probe as its own manager'
    }

    case 'self-signed': {
      return weRefuse
        ? 'the peer presents a self-signed certificate that is not tether\'s: it is not a tether agent or manager (wrong address or port?)'
        : 'the peer refuses our self-signed certificate: present a certificate issued by its manager\'s CA'
    }

    case 'expired': {
      return 'a certificate has expired: if the dates look wrong, fix the clock (NTP) on the side that is off; otherwise reset the agent (`dsa_control -r`) and activate it again for a new certificate'
    }

    case 'not-yet-valid': {
      return 'clock skew: a certificate is not valid yet by one side\'s clock; fix the clock (NTP) on this machine or the peer'
    }

    case 'clock-skew': {
      return 'clock skew: fix the clock on the agent (or this machine) with NTP, then activate again'
    }

    case 'revoked':
    case 'not-in-registry': {
      return 'this agent\'s certificate is no longer good on this manager: reset the agent (`dsa_control -r`) and activate it again'
    }

    case 'bound-to-other-manager': {
      return as === 'agent'
        ? 'not the bound manager: connect to the manager whose certificate is in ds_agent_dsm.crt, or bind again (`tether agent bind ds_agent_dsm.crt`) with this manager\'s exported certificate'
        : 'the agent is bound to another manager: activate it from that manager, or reset the agent (`dsa_control -r`) to remove the binding'
    }

    case 'protocol-version': {
      return 'the peer does not speak TLS 1.2 or later with tether\'s policy: it is not a tether agent or manager, or it needs upgrading'
    }

    case 'no-shared-cipher': {
      return 'no forward-secret AEAD cipher suite in common with tether\'s policy: reconfigure or upgrade the peer'
    }

    case 'bad-certificate':
    case 'bad-signature': {
      return 'a certificate was rejected as malformed or badly signed: re-export the manager certificate, or reset the agent and activate it again'
    }

    case 'no-certificate': {
      return 'the peer sent no certificate: it is not a tether agent or manager'
    }

    case 'peer-closed':
    case 'connection-reset': {
      return 'the peer hung up: if it is a tether agent, its journal says why (`tether handshake log --dsa-core DIR`); otherwise it may not speak TLS on this port'
    }

    default: {
      return 'see the OpenSSL error above; `tether handshake log` on the peer records its side of the handshake'
    }
  }
}

function plainReason(reason: string): string {
  const words: Record<string, string> = {
    'connection-refused': 'the connection was refused (nothing listening)',
    timeout: 'timed out',
    'no-client-certificate': 'the peer requires a client certificate and we sent none',
    'unknown-ca': 'the certificate is not issued by a CA the other side trusts',
    untrusted: 'the certificate does not verify to the trusted CA',
    'self-signed': 'the certificate is self-signed and not trusted',
    expired: 'the certificate has expired',
    'not-yet-valid': 'the certificate is not valid yet',
    revoked: 'the certificate is revoked',
    'not-in-registry': 'the certificate is unknown to the manager registry',
    'protocol-version': 'no TLS version in common (tether needs TLS 1.2 or later)',
    'no-shared-cipher': 'no cipher suite in common',
    'bad-certificate': 'a certificate was rejected',
    'bad-signature': 'a certificate signature does not verify',
    'connection-reset': 'the peer reset the connection',
    'peer-closed': 'the peer closed the connection right after the handshake',
    'bound-to-other-manager': 'the agent is bound to another manager',
    'clock-skew': 'the clocks are too far apart',
    'no-certificate': 'the peer sent no certificate',
  }
  return words[reason] ?? reason
}

// --- the probe ---

export async function inspectEndpoint(request: InspectRequest): Promise<InspectReport> {
  const now = request.now ?? new Date()
  const perspective = loadPerspective(request)
  const {host, port} = parseHostPort(request.target, perspective.as === 'agent' ? DEFAULT_MANAGER_PORT : DEFAULT_AGENT_PORT)
  const where = `${host}:${port}`
  const keyLogSink = request.keylog ? openKeyLog(request.keylog) : undefined
  let connection: Connection
  let registry: ManagerStore | undefined
  try {
    const connected = await connect(host, port, perspective, request, keyLogSink)
    connection = connected.connection
    const socket = connected.socket
    if (socket) {
      const wireNow = analyzeHandshake(connection.tap!, connection.keyLog)
      const peerNow = connection.snapshot!.chain[0] ? new crypto.X509Certificate(connection.snapshot!.chain[0]) : undefined
      const kind = classify(peerNow, perspective)
      const isAgent = kind === 'bootstrap' || (kind === 'own-agent' && perspective.as !== 'agent')
      if (isAgent && perspective.as !== 'agent' && !request.handshakeOnly) {
        // The manager is the HTTP client of an agent: asking it GetHostInfo is in role, read-only,
        // and the only way to learn whether it accepts us (a binding is checked after the handshake).
        const asked = await askAgent(socket, request.timeoutMs ?? 10_000)
        connection.answer = asked.answer
        connection.after = asked.after
      } else if (connection.snapshot!.protocol === 'TLSv1.3' && wireNow.certificateRequested !== false) {
        connection.after = await settle(socket, request.settleMs ?? 1000)
      }

      socket.destroy()
    }

    let recorded: RegistryFacts | undefined
    if (perspective.manager) {
      registry = await perspective.manager.home.openStore()
      const peerDer = connection.snapshot?.chain[0]
      recorded = {
        revocation: peerDer ? await registry.certificates.revocation(fingerprint(new crypto.X509Certificate(peerDer))) : undefined,
        maxClockSkewMs: (await getSettings(registry)).maxClockSkewSeconds * 1000,
      }
    }

    return buildReport(request, perspective, connection, where, now, recorded, keyLogSink)
  } finally {
    await registry?.close()
    keyLogSink?.close()
  }
}

/** What the manager's registry says about the peer, read before the report is assembled. */
interface RegistryFacts {
  revocation?: {revokedAt: string | null; reason: string | null}
  maxClockSkewMs: number
}

function buildReport(request: InspectRequest, perspective: Perspective, connection: Connection, where: string, now: Date, registry: RegistryFacts | undefined, keyLogSink: KeyLogSink | undefined): InspectReport {
  const wire: WireHandshake | undefined = connection.tap ? analyzeHandshake(connection.tap, connection.keyLog) : undefined
  const snap = connection.snapshot
  const sent = wire?.peerCertificates
  // The chain as Node's TLS saw it (the peer's certificates, completed from our trust store when
  // it could); from the wire when the handshake failed before Node handed it over.
  const chainDer = snap?.chain.length ? snap.chain : sent ?? []
  const chain = chainDer.map((der) => new crypto.X509Certificate(der))
  const peer = chain[0]
  const kind = classify(peer, perspective)

  const sentOurs = Boolean(perspective.identity) && (wire?.clientCertificateSent ?? wire?.certificateRequested ?? false)
  const report: InspectReport = {
    target: where,
    as: perspective.as,
    asSource: perspective.asSource,
    presented: perspective.identity ? {subject: oneLineName(perspective.identity.certificate.subject), sha256: fingerprint(perspective.identity.certificate), source: perspective.identity.source} : undefined,
    trust: {managerHome: perspective.manager?.home.dir, dsaCore: perspective.agent?.dsaCore, agentState: perspective.agent?.state, anchor: perspective.anchor ? `${oneLineName(perspective.anchor.certificate.subject)} (${perspective.anchor.source})` : undefined},
    handshake: {
      completed: Boolean(snap),
      protocol: snap?.protocol ?? wire?.version,
      cipher: snap?.cipher?.name,
      cipherStandardName: snap?.cipher?.standardName,
      keyExchange: snap?.keyExchange,
      alpn: snap ? snap.alpn ?? false : undefined,
      resumed: snap?.resumed,
      sessionTickets: connection.sessionTickets,
      servername: request.servername,
    },
    peer: {kind, description: KIND_DESCRIPTIONS[kind], chainSource: snap?.chain.length ? 'tls' : sent?.length ? 'wire' : 'none', chain: chain.map((cert, depth) => detail(cert, depth, now, sent))},
    clientCertificate: {requested: wire?.certificateRequested, acceptableCAs: wire?.acceptableCAs, sent: sentOurs},
    agentAnswer: connection.answer,
    verdicts: {} as InspectReport['verdicts'],
    ok: false,
    keylog: keyLogSink && request.keylog ? {file: path.resolve(request.keylog), lines: keyLogSink.lines} : undefined,
  }

  let failure: InspectFailure | undefined
  const fail = (stage: FailureStage, reason: string, message: string, openssl?: InspectFailure['openssl']) => {
    failure ??= {stage, reason, message, openssl, fix: likelyFix(stage, reason, perspective.as, where)}
  }

  // 1. Did we get a TCP connection and a handshake at all?
  if (connection.stage === 'tcp-connect') {
    const error = connection.error!
    const reason = error.code === 'ECONNREFUSED' ? 'connection-refused' : error.code === 'ETIMEDOUT' ? 'timeout' : 'unreachable'
    fail('tcp-connect', reason, `cannot reach ${where}: ${plainReason(reason)} (${error.code ?? error.message})`, opensslOf(error))
  } else if (connection.stage === 'tls-handshake') {
    const error = connection.error!
    const alert = wire?.serverAlert
    let {reason} = classifyTlsError(error)
    // TLS 1.2 servers answer a missing client certificate with a generic handshake_failure (40)
    // alert, which alone reads like a cipher mismatch; the captured CertificateRequest says more.
    if (wire?.certificateRequested && !perspective.identity && [40, 42, 116].includes(alert ?? -1)) reason = 'no-client-certificate'
    fail('tls-handshake', reason, `the TLS handshake with ${where} failed: ${plainReason(reason)} (${error.reason ?? error.message.split('\n')[0]})`, {...opensslOf(error), ...(alert === undefined ? {} : {alert})})
  }

  // 2. Did the peer accept our certificate (TLS 1.3 tells only after the handshake)?
  const after = connection.after
  const requested = wire?.certificateRequested
  let clientVerdict: Verdict
  if (!snap) {
    clientVerdict = requested && failure?.stage === 'tls-handshake'
      ? {status: 'fail', code: perspective.identity ? failure.reason : 'no-client-certificate', detail: perspective.identity ? 'the peer asked for a certificate and the handshake failed after we sent ours' : 'the peer asked for a certificate, we had none, and the handshake failed'}
      : {status: 'skip', code: 'no-handshake', detail: 'the handshake did not complete'}
  } else if (requested === false) {
    clientVerdict = {status: 'pass', code: 'not-requested', detail: 'the peer did not ask for a client certificate'}
  } else if (after?.outcome === 'refused') {
    const classified = after.error ? classifyTlsError(after.error).reason : undefined
    const ourIssuer = perspective.identity ? oneLineName(perspective.identity.certificate.issuer) : undefined
    // A peer that hangs up without an alert (tether's agent does) does not say why; the CA names
    // in its CertificateRequest often do.
    const foreignToPeer = Boolean(sentOurs && ourIssuer && wire?.acceptableCAs?.length && !wire.acceptableCAs.includes(ourIssuer))
    const reason = classified && !['connection-reset', 'tls-error'].includes(classified) ? classified : !sentOurs ? 'no-client-certificate' : foreignToPeer ? 'unknown-ca' : 'peer-closed'
    const detailText = !sentOurs
      ? 'the peer asked for a certificate, we sent none, and it refused us'
      : foreignToPeer
        ? `the peer refused our certificate after the handshake; it accepts certificates from ${wire!.acceptableCAs!.join('; ')}, ours is issued by ${ourIssuer}`
        : 'the peer refused our certificate after the handshake'
    clientVerdict = {status: 'fail', code: reason, detail: after.error ? `${detailText} (${after.error.reason ?? after.error.message.split('\n')[0]})` : detailText}
    fail('client-certificate', reason, `${where} refused us after the handshake: ${plainReason(reason)}`, opensslOf(after.error))
  } else if (after?.outcome === 'quiet') {
    clientVerdict = {status: 'pass', code: 'not-refused', detail: `the peer did not refuse ${sentOurs ? 'our certificate' : 'us'} within ${request.settleMs ?? 1000} ms`}
  } else {
    clientVerdict = sentOurs
      ? {status: 'pass', code: 'accepted', detail: 'the peer asked for our certificate and accepted it'}
      : {status: 'pass', code: 'not-required', detail: requested ? 'the peer asked for a certificate but went on without one' : 'accepted without a client certificate'}
  }

  report.clientCertificate.accepted = sentOurs ? Boolean(snap) && clientVerdict.status === 'pass' : undefined

  // 3. Our own judgement of the peer's certificate.
  let chainVerdict: Verdict
  if (!peer) {
    chainVerdict = snap || failure?.stage === 'tls-handshake' ? {status: snap ? 'fail' : 'skip', code: snap ? 'no-certificate' : 'no-handshake', detail: snap ? 'the peer sent no certificate' : 'no certificate captured'} : {status: 'skip', code: 'no-handshake', detail: 'no certificate captured'}
    if (snap) fail('verification', 'no-certificate', `${where} sent no certificate`)
  } else if (kind === 'bootstrap') {
    chainVerdict = {status: 'skip', code: 'bootstrap-certificate', detail: 'the shipped bootstrap certificate authenticates nothing by design; trust is established at activation'}
  } else if (perspective.anchor) {
    const anchorName = oneLineName(perspective.anchor.certificate.subject)
    const code = snap ? (snap.authorized ? undefined : snap.authorizationError) : verifyLocally(chain, perspective.anchor.certificate, now)
    if (code) {
      const {reason, openssl} = verifyCode(code)
      chainVerdict = {status: 'fail', code: reason, detail: `does not verify to ${anchorName}: ${plainReason(reason)} (${openssl?.code})`}
      if (snap) fail('verification', reason, `${where} presents a certificate that does not verify to ${anchorName}: ${plainReason(reason)}`, openssl)
    } else {
      chainVerdict = {status: 'pass', code: 'verified', detail: `verifies to ${anchorName}`}
    }
  } else {
    chainVerdict = {status: 'skip', code: 'no-anchor', detail: 'no CA to verify against: give --home (the manager) or --dsa-core of an activated agent'}
  }

  const lookup = registry ? {lookup: () => registry.revocation} : undefined
  const revocationVerdict = revocation(peer, kind, lookup)
  if (revocationVerdict.status === 'fail' && snap) fail('verification', revocationVerdict.code, `${where} presents a certificate that is ${plainReason(revocationVerdict.code).replace(/^the certificate is /, '')}`)

  const bindingResult = bindingVerdict(peer, perspective, connection)
  if (bindingResult.status === 'fail') fail(perspective.as === 'agent' ? 'verification' : 'agent-answer', bindingResult.code, bindingResult.detail)

  // The manager's own setting when there is a registry to read it from; the default otherwise.
  const maxSkewMs = registry?.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS
  const clock = clockVerdict(connection.answer, now, maxSkewMs)
  if (clock.status === 'fail') fail('agent-answer', clock.code, clock.detail)

  report.verdicts = {chain: chainVerdict, binding: bindingResult, revocation: revocationVerdict, clientCertificate: clientVerdict, clock}
  report.failure = failure
  report.ok = !failure && Object.values(report.verdicts).every((v) => v.status !== 'fail')
  return report
}

/** The error a failed inspection exits with (its class fixes the exit code). */
export function inspectError(report: InspectReport): TetherError | undefined {
  if (report.ok) return undefined
  const failure = report.failure ?? {stage: 'verification' as const, reason: 'verdict-failed', message: 'a verdict failed', fix: 'see the verdicts above'}
  return new TetherError(FAILURE_CLASS[failure.stage], failure.reason, failure.message, {hint: failure.fix, details: {stage: failure.stage, ...(failure.openssl ? {openssl: failure.openssl} : {})}})
}
