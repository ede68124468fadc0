import type crypto from 'node:crypto'
import type tls from 'node:tls'

import {bootstrapIdentity} from '../agent/bootstrap.js'
import {connectTls, parseHostPort} from '../channel/connect.js'
import {HttpSession} from '../channel/http-session.js'
import {HandshakeEntry, describeSocket, recordHandshake} from '../channel/journal.js'
import {peerCertificate} from '../channel/tls.js'
import {TetherError} from '../errors.js'
import {AgentCommunication, AgentStatusReply, CommandName, HostInfo, errorFromReply} from '../protocol/commands.js'
import {commonName, fingerprint, issuedBy, oneLineName, parseCertificate, summarize} from '../pki/inspect.js'
import {DEFAULT_AGENT_PORT} from '../platform/paths.js'
import type {Database} from '../platform/sqlite.js'
import {CommunicationMode, Computer, findComputer, findComputerByCertificate, findComputersByHostname, isIssuedCertificate, recordActivation, recordIssuedCertificate} from './computers.js'
import {currentCrl, isRevoked, revokeCertificate} from './revocation.js'
import {ManagerCredentials, ManagerHome} from './home.js'
import {getMeta, newGuid} from './registry.js'
import {getSettings} from './settings.js'

/**
 * Activation, the manager's side. The manager is the HTTP client throughout: it reads the agent's
 * host information, has it generate a key pair and CSR (the private key stays on the agent), signs
 * the CSR with its CA, installs its certificate, its CA certificate and the agent certificate, and
 * records the computer only after confirming over mutual TLS.
 */

export const DEFAULT_MAX_CLOCK_SKEW_MS = 24 * 60 * 60 * 1000

export interface ActivationRequest {
  displayName?: string
  description?: string
  group?: string
  policy?: string
  mode?: CommunicationMode
  /** HOST:PORT the manager reaches the agent at (manager-initiated and bidirectional). */
  address?: string
  /** Reactivate this existing computer instead of creating a new one. */
  guid?: string
  /** The name to record (an agent-supplied hostname:, when allowed); default: the agent's own. */
  hostname?: string
  /** Heartbeat address, mode and interval the agent is told. */
  communication?: Partial<AgentCommunication>
}

export interface ActivationResult {
  computer: Computer
  /** True when the agent was already activated by this manager (nothing re-issued). */
  alreadyActivated: boolean
}

export type PeerKind = 'bootstrap' | 'own-agent' | 'own-manager' | 'foreign'

/** What a certificate is in tether's terms, seen from this manager. */
export function classifyPeer(cert: crypto.X509Certificate | undefined, credentials: ManagerCredentials): PeerKind {
  if (!cert) return 'foreign'
  if (cert.raw.equals(bootstrapIdentity().certificate.raw)) return 'bootstrap'
  if (cert.raw.equals(credentials.managerCert.raw)) return 'own-manager'
  return issuedBy(cert, credentials.caCert) ? 'own-agent' : 'foreign'
}

/** A command over the session; an error reply becomes the error the agent described. */
export async function command<T>(session: HttpSession, name: CommandName, body: Record<string, unknown> = {}): Promise<T> {
  const reply = await session.call<T>(name, body)
  if (reply.status !== 200) throw errorFromReply(name, reply.status, reply.body)
  return reply.body
}

export interface ActivationChannel {
  session: HttpSession
  /** Confirm over a new mutual-TLS connection that the agent now presents `expectedSha256`. */
  confirm(expectedSha256: string): Promise<AgentStatusReply>
}

/** Sign an agent's CSR with the manager CA and record the issued certificate. */
export async function issueAgentCertificate(db: Database, credentials: ManagerCredentials, csrPem: string, guid: string, hostname: string): Promise<{pem: string; certificate: crypto.X509Certificate}> {
  const {issueCertificate, readCsr, VALIDITY_DAYS} = await import('../pki/x509.js')
  const csr = await readCsr(csrPem)
  const pem = await issueCertificate({
    profile: 'agent',
    // The subject is the manager's to choose, not the agent's: the computer GUID names it.
    subject: {commonName: guid, organizationalUnit: 'agent', organization: 'tether'},
    publicKeyPem: csr.publicKeyPem,
    issuerCertPem: credentials.caCertPem,
    signerKeyPem: credentials.caKeyPem,
    validityDays: VALIDITY_DAYS.agent,
    altNames: /^[A-Za-z0-9.-]{1,253}$/.test(hostname) ? [hostname] : undefined,
  })
  const certificate = parseCertificate(pem, 'issued agent certificate')
  const summary = summarize(certificate)
  recordIssuedCertificate(db, {serial: summary.serial, sha256: summary.sha256, subject: summary.subject, notBefore: summary.notBefore, notAfter: summary.notAfter, pem})
  return {pem, certificate}
}

/** From the CSR on, once the host information has been read and the request accepted. */
export async function completeActivation(db: Database, credentials: ManagerCredentials, channel: ActivationChannel, hostInfo: HostInfo, request: ActivationRequest): Promise<Computer> {
  const {session} = channel
  const hostname = request.hostname ?? hostInfo.hostname
  const guid = request.guid ?? newGuid()
  const replaced = request.guid ? findComputer(db, request.guid).certSha256 : undefined
  const {csr} = await command<{csr: string}>(session, 'GenerateAgentCSR', {commonName: hostname})
  const issued = await issueAgentCertificate(db, credentials, csr, guid, hostname)
  await command(session, 'SetDSMCert', {certificate: credentials.managerCertPem})
  await command(session, 'SetDSMCACert', {certificate: credentials.caCertPem})
  await command(session, 'SetAgentCredentials', {certificate: issued.pem, communication: request.communication ?? {}})
  session.close()

  const sha256 = fingerprint(issued.certificate)
  const status = await channel.confirm(sha256)
  if (status.state !== 'activated' || status.certificateSha256 !== sha256) {
    throw new TetherError('trust', 'activation-not-confirmed', `the agent did not confirm activation (state ${status.state}, certificate ${status.certificateSha256})`, {
      hint: 'retry the activation; if it persists, reset the agent (`dsa_control -r`)',
    })
  }

  // Reactivating an existing computer: its previous certificate is superseded.
  if (replaced && replaced !== sha256) revokeCertificate(db, replaced, 'superseded')
  return recordActivation(db, {
    guid,
    hostname,
    displayName: request.displayName,
    description: request.description,
    group: request.group,
    policy: request.policy,
    address: request.address,
    mode: request.mode ?? 'bidirectional',
    hostInfo: recordableHostInfo(hostInfo),
    certSerial: issued.certificate.serialNumber.toUpperCase(),
    certSha256: sha256,
  })
}

/** Host information as stored in the registry: the activation token is a secret and is dropped. */
export function recordableHostInfo(hostInfo: HostInfo): Record<string, unknown> {
  const {activationRequest, ...rest} = hostInfo
  if (!activationRequest) return rest
  const {token, ...args} = activationRequest
  return {...rest, activationRequest: {...args, ...(token === undefined ? {} : {token: '(provided)'})}}
}

/**
 * A computer with this name already exists: refuse, activate as a new computer, or reactivate the
 * existing one, as the duplicateNamePolicy setting says. Names, not addresses: an address is
 * reused by other machines (DHCP, ephemeral ports).
 */
export function duplicatePlan(db: Database, hostname: string): {guid?: string} {
  const existing = findComputersByHostname(db, hostname)
  if (existing.length === 0) return {}
  const policy = getSettings(db).duplicateNamePolicy
  if (policy === 'refuse') {
    throw new TetherError('refused', 'duplicate-name', `a computer named ${hostname} already exists (id ${existing.map((c) => c.id).join(', ')})`, {
      hint: 'remove it, use another name, or change duplicateNamePolicy (new or reactivate)',
    })
  }

  return policy === 'reactivate' ? {guid: existing.at(-1)!.guid} : {}
}

export function checkClockSkew(hostInfo: HostInfo, managerNow: Date, maxSkewMs: number): void {
  const agentClock = Date.parse(hostInfo.clock)
  if (Number.isNaN(agentClock)) throw new TetherError('usage', 'bad-clock', 'the agent reported no valid clock')
  const skew = agentClock - managerNow.getTime()
  if (Math.abs(skew) > maxSkewMs) {
    const hours = (Math.abs(skew) / 3_600_000).toFixed(1)
    throw new TetherError('refused', 'clock-skew', `the agent's clock is ${hours} hours ${skew > 0 ? 'ahead of' : 'behind'} the manager's (allowed: ${(maxSkewMs / 3_600_000).toFixed(1)} hours)`, {
      hint: 'fix the clock on the agent (or the manager) with NTP, then activate again',
    })
  }
}

function journalEntry(socket: tls.TLSSocket, peer: crypto.X509Certificate | undefined, partial: Pick<HandshakeEntry, 'context' | 'result' | 'reason'> & Partial<HandshakeEntry>): HandshakeEntry {
  return {tlsRole: 'client', httpRole: 'client', ...describeSocket(socket, peer), ...partial}
}

/**
 * Connect to an activated agent over mutual TLS, pinned to the certificate we expect it to hold,
 * and (given the CRL) refusing a revoked one.
 */
export async function connectMutual(credentials: ManagerCredentials, host: string, port: number, expectedSha256?: string, crl?: string): Promise<tls.TLSSocket> {
  return connectTls({
    host,
    port,
    cert: credentials.managerCertPem,
    key: credentials.managerKeyPem,
    ca: credentials.caCertPem,
    ...(crl ? {overrides: {crl}} : {}),
    rejectUnauthorized: true,
    // Agents are identified by CA and certificate fingerprint, not by DNS name.
    checkServerIdentity: (_name, cert) =>
      expectedSha256 && cert.fingerprint256 !== expectedSha256
        ? new Error(`the agent presented certificate ${cert.fingerprint256}, expected ${expectedSha256}`)
        : undefined,
  })
}

/** Where agents are told to send heartbeats: the setting, else where `manager start` last listened. */
export function advertisedHeartbeatAddress(db: Database): string | undefined {
  return getSettings(db).heartbeatAddress || getMeta(db, 'listening_address') || undefined
}

/** What a manager runtime holds open: its credentials and its registry. */
export interface ManagerContext {
  credentials: ManagerCredentials
  db: Database
}

/** `tether manager activate HOST[:PORT]`: manager-initiated activation. */
export async function activateAgent(home: ManagerHome, target: string, request: ActivationRequest = {}): Promise<ActivationResult> {
  const credentials = home.loadCredentials()
  const db = await home.openRegistry()
  try {
    return await activateAgentWith({credentials, db}, target, request)
  } finally {
    db.close()
  }
}

/** Manager-initiated activation with an open manager context (the CLI, a running manager, the bench). */
export async function activateAgentWith({credentials, db}: ManagerContext, target: string, request: ActivationRequest = {}): Promise<ActivationResult> {
  const {host, port} = parseHostPort(target, DEFAULT_AGENT_PORT)
  const address = `${host}:${port}`
  const settings = getSettings(db)
  const socket = await connectTls({host, port, cert: credentials.managerCertPem, key: credentials.managerKeyPem, rejectUnauthorized: false})
  const peer = peerCertificate(socket)
  const kind = classifyPeer(peer, credentials)
  const journal = (entry: Pick<HandshakeEntry, 'context' | 'result' | 'reason'> & Partial<HandshakeEntry>) => recordHandshake(db, journalEntry(socket, peer, entry))

  if (kind === 'own-agent') {
    // Already ours: confirm over a properly verified mutual connection, record, change nothing.
    socket.destroy()
    const sha256 = fingerprint(peer!)
    if (isRevoked(db, sha256)) {
      journal({context: 'mutual', result: 'refused', reason: 'revoked'})
      throw new TetherError('trust', 'revoked', `the agent at ${address} holds a certificate this manager revoked (it was deactivated)`, {
        hint: 'reset the agent (`dsa_control -r`), then activate it again',
      })
    }

    const mutual = await connectMutual(credentials, host, port, sha256, currentCrl(db, credentials))
    const session = new HttpSession(mutual)
    try {
      const status = await command<AgentStatusReply>(session, 'GetAgentStatus')
      journal({context: 'mutual', result: 'accepted', reason: 'already-activated'})
      const known = findComputerByCertificate(db, sha256)
      if (known) return {computer: known, alreadyActivated: true}
      if (!isIssuedCertificate(db, sha256)) {
        // Unknown to this registry (e.g. restored from an older backup): the reactivation setting decides.
        const {reactivateAsNewComputer} = await import('./reactivation.js')
        const computer = await reactivateAsNewComputer({credentials, db}, session, 'unknown', {address, displayName: request.displayName})
        journal({context: 'mutual', result: 'accepted', reason: 'reactivated-unknown'})
        return {computer, alreadyActivated: false}
      }

      // Issued but never recorded: a previous activation was cut off after the agent committed.
      const info = await command<HostInfo>(session, 'GetHostInfo')
      const computer = recordActivation(db, {
        guid: commonName(peer!) ?? newGuid(),
        hostname: status.hostname,
        address,
        displayName: request.displayName,
        mode: request.mode ?? 'bidirectional',
        hostInfo: info as unknown as Record<string, unknown>,
        certSerial: peer!.serialNumber.toUpperCase(),
        certSha256: sha256,
      })
      return {computer, alreadyActivated: true}
    } finally {
      session.close()
    }
  }

  if (kind !== 'bootstrap') {
    socket.destroy()
    journal({context: 'mutual', result: 'refused', reason: 'agent-owned-by-other-manager'})
    throw new TetherError('refused', 'agent-owned-by-other-manager', `the agent at ${address} is activated by another manager (its certificate is issued by ${peer ? oneLineName(peer.issuer) : 'nobody'})`, {
      hint: 'deactivate it on that manager, or reset it on the agent (`dsa_control -r`), then activate again',
    })
  }

  journal({context: 'bootstrap', result: 'accepted', reason: 'ok'})
  const session = new HttpSession(socket)
  const plan = async (hostInfo: HostInfo) => duplicatePlan(db, request.hostname ?? hostInfo.hostname)
  try {
    const hostInfo = await command<HostInfo>(session, 'GetHostInfo')
    checkClockSkew(hostInfo, new Date(), settings.maxClockSkewSeconds * 1000)
    const computer = await completeActivation(db, credentials, {
      session,
      async confirm(expectedSha256) {
        const mutual = new HttpSession(await connectMutual(credentials, host, port, expectedSha256))
        try {
          return await command<AgentStatusReply>(mutual, 'GetAgentStatus')
        } finally {
          mutual.close()
        }
      },
    }, hostInfo, {
      ...request,
      ...(await plan(hostInfo)),
      address,
      communication: {managerAddress: advertisedHeartbeatAddress(db) ?? null, mode: request.mode ?? 'bidirectional', heartbeatSeconds: settings.heartbeatIntervalSeconds},
    })
    return {computer, alreadyActivated: false}
  } catch (error) {
    if (error instanceof TetherError && error.code === 'bound-to-other-manager') {
      journal({context: 'pre-activated', result: 'refused', reason: error.code, detail: error.message})
    }

    throw error
  } finally {
    session.close()
  }
}
