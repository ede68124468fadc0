import {TetherError} from '../errors.js'
import type {HttpSession} from '../channel/http-session.js'
import type {AgentCommunication, AgentStatusReply, HostInfo} from '../protocol/messages.js'
import {findComputer} from './computers.js'
import type {ManagerContext} from './context.js'
import {newGuid} from './guid.js'
import {issueAgentCertificate} from './issuance.js'
import {getSettings} from './settings.js'
import type {CommunicationMode, Computer} from './store/store.js'

/**
 * Activation, the manager's side, whichever side opened the connection. The manager is the HTTP
 * client throughout: it has the agent generate a key pair and CSR (the private key stays on the
 * agent), signs the CSR with its CA, installs its certificate, its CA certificate and the agent
 * certificate, and records the computer only after confirming over mutual TLS.
 */

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

export interface ActivationChannel {
  session: HttpSession
  /** Confirm over a new mutual-TLS connection that the agent now presents `expectedSha256`. */
  confirm(expectedSha256: string): Promise<AgentStatusReply>
}

/** From the CSR on, once the host information has been read and the request accepted. */
export async function completeActivation(ctx: ManagerContext, channel: ActivationChannel, hostInfo: HostInfo, request: ActivationRequest): Promise<Computer> {
  const {session} = channel
  const {credentials, store} = ctx
  const hostname = request.hostname ?? hostInfo.hostname
  const guid = request.guid ?? newGuid()
  const replaced = request.guid ? (await findComputer(store, request.guid)).certSha256 : undefined
  const {csr} = await session.command('GenerateAgentCSR', {commonName: hostname})
  const issued = await issueAgentCertificate(ctx, csr, guid)
  await session.command('SetDSMCert', {certificate: credentials.managerCertPem})
  await session.command('SetDSMCACert', {certificate: credentials.caCertPem})
  await session.command('SetAgentCredentials', {certificate: issued.pem, communication: request.communication ?? {}})
  session.close()

  const status = await channel.confirm(issued.sha256)
  if (status.state !== 'activated' || status.certificateSha256 !== issued.sha256) {
    throw new TetherError('trust', 'activation-not-confirmed', `the agent did not confirm activation (state ${status.state}, certificate ${status.certificateSha256})`, {
      hint: 'retry the activation; if it persists, reset the agent (`dsa_control -r`)',
    })
  }

  // Reactivating an existing computer: its previous certificate is superseded.
  if (replaced && replaced !== issued.sha256) await store.certificates.revoke(replaced, 'superseded', ctx.now())
  ctx.log.info('activated', {guid, hostname, address: request.address, mode: request.mode ?? 'bidirectional', certificateSha256: issued.sha256, reactivated: Boolean(request.guid)})
  return store.computers.recordActivation({
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
    certSha256: issued.sha256,
  }, ctx.now())
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
export async function duplicatePlan(ctx: ManagerContext, hostname: string): Promise<{guid?: string}> {
  const existing = await ctx.store.computers.byHostname(hostname)
  if (existing.length === 0) return {}
  const policy = (await getSettings(ctx.store)).duplicateNamePolicy
  if (policy === 'refuse') {
    throw new TetherError('refused', 'duplicate-name', `a computer named ${hostname} already exists (id ${existing.map((c) => c.id).join(', ')})`, {
      hint: 'remove it, use another name, or change duplicateNamePolicy (new or reactivate)',
    })
  }

  return policy === 'reactivate' ? {guid: existing.at(-1)!.guid} : {}
}
