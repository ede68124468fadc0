import {TetherError} from '../errors.js'
import {failpoint} from '../platform/failpoint.js'
import type {HttpSession} from '../channel/http-session.js'
import type {AgentCommunication, AgentStatusReply, HostInfo} from '../protocol/messages.js'
import {findComputer} from './computers.js'
import type {ManagerContext} from './context.js'
import {newGuid} from './guid.js'
import {issueAgentCertificate} from './issuance.js'
import {currentCrl} from './revocation.js'
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
  /** Reactivate this existing computer (by name: duplicateNamePolicy reactivate) instead of creating a new one. */
  guid?: string
  /** No other computer may have this name (duplicateNamePolicy refuse): the name is reserved first. */
  uniqueName?: boolean
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
  /** The manager certificate this connection presented (SetDSMCert must send exactly it). */
  managerCertPem: string
}

/** From the CSR on, once the host information has been read and the request accepted. */
export async function completeActivation(ctx: ManagerContext, channel: ActivationChannel, hostInfo: HostInfo, request: ActivationRequest): Promise<Computer> {
  const {store} = ctx
  const hostname = request.hostname ?? hostInfo.hostname
  const guid = request.guid ?? newGuid()
  const replaced = request.guid ? (await findComputer(store, request.guid)).certSha256 ?? undefined : undefined
  // A new computer's name is reserved before anything is issued, so concurrent claims of one name
  // under `refuse` make one computer; the reservation goes if the activation does not complete.
  if (!request.guid && !(await store.computers.reserve({guid, hostname, unique: request.uniqueName ?? false, staleAfterMs: RESERVATION_STALE_MS}, ctx.now()))) {
    throw duplicateName(hostname, await store.computers.byHostname(hostname))
  }

  try {
    return await issueAndRecord(ctx, channel, hostInfo, {...request, hostname, guid}, replaced)
  } catch (error) {
    if (!request.guid) await store.computers.release(guid)
    throw error
  }
}

/** A reservation older than this belongs to an activation that died half-way. */
const RESERVATION_STALE_MS = 10 * 60_000

async function issueAndRecord(ctx: ManagerContext, channel: ActivationChannel, hostInfo: HostInfo, request: ActivationRequest & {hostname: string; guid: string}, replaced: string | undefined): Promise<Computer> {
  const {session} = channel
  const {credentials, store} = ctx
  const {hostname, guid} = request
  const {csr} = await session.command('GenerateAgentCSR', {commonName: hostname})
  const issued = await issueAgentCertificate(ctx, csr, guid)
  await session.command('SetDSMCert', {certificate: channel.managerCertPem})
  // Every CA the manager trusts: both during a CA rotation.
  await session.command('SetDSMCACert', {certificate: credentials.trustedCasPem})
  // The renewal point goes with it, so `agent status` can say when the certificate renews.
  const {renewAfter} = await getSettings(ctx.store)
  await session.command('SetAgentCredentials', {certificate: issued.pem, communication: {...request.communication, renewAfter}, crl: (await currentCrl(ctx)).pem})
  session.close()
  // The agent holds its credentials; the registry records it only once confirmed (see interrupted-activation.ts).
  failpoint('manager-activation:credentials-sent')

  const status = await channel.confirm(issued.sha256)
  if (status.state !== 'activated' || status.certificateSha256 !== issued.sha256) {
    throw new TetherError('trust', 'activation-not-confirmed', `the agent did not confirm activation (state ${status.state}, certificate ${status.certificateSha256})`, {
      hint: 'retry the activation; if it persists, reset the agent (`dsa_control -r`)',
    })
  }

  // Reactivating an existing computer: its previous certificate is superseded.
  if (replaced && replaced !== issued.sha256) await store.certificates.revoke(replaced, 'superseded', ctx.now())
  ctx.log.info('activated', {guid, hostname, address: request.address, mode: request.mode ?? 'bidirectional', certificateSha256: issued.sha256, reactivatedByName: Boolean(replaced !== undefined)})
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
    certSerial: issued.serial,
    certSha256: issued.sha256,
    certNotBefore: issued.notBefore,
    certNotAfter: issued.notAfter,
  // Taken over by name: nothing queued for the computer goes to its new holder.
  }, ctx.now(), {cancelQueued: replaced !== undefined})
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
export async function duplicatePlan(ctx: ManagerContext, hostname: string): Promise<{guid?: string; uniqueName?: boolean}> {
  const policy = (await getSettings(ctx.store)).duplicateNamePolicy
  const existing = (await ctx.store.computers.byHostname(hostname)).filter((c) => c.state !== 'activating')
  if (policy === 'refuse' && existing.length > 0) throw duplicateName(hostname, existing)
  if (policy === 'reactivate' && existing.length > 0) return {guid: existing.at(-1)!.guid}
  return {uniqueName: policy === 'refuse'}
}

function duplicateName(hostname: string, existing: Computer[]): TetherError {
  return new TetherError('refused', 'duplicate-name', `a computer named ${hostname} already exists (id ${existing.map((c) => c.id).join(', ')})`, {
    hint: 'remove it, use another name, or change duplicateNamePolicy (new or reactivate)',
  })
}
