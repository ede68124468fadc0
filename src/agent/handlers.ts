import type crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'

import type * as v from 'valibot'

import type {SecurityContext} from '../channel/journal.js'
import {TetherError} from '../errors.js'
import {ActivationReport, ActivationRequestArgs, AgentCommunication, HeartbeatRequest, BOOTSTRAP_COMMANDS, CommandName, MESSAGES, Reply, parseRequest} from '../protocol/messages.js'
import {fingerprint, issuedBy, parseCertificate, validityProblem} from '../pki/certificate.js'
import {KeyPairPem, keyMatchesCertificate, loadPrivateKey} from '../pki/keys.js'
import {failpoint} from '../platform/failpoint.js'
import type {Logger} from '../platform/log.js'
import type {Database} from '../platform/sqlite.js'
import {acknowledgeEvents, agentInstance, hasEvents, listEvents, recordEvent} from './database.js'
import {applyConfiguration} from './configuration.js'
import {acceptCrl, crlNumber, heldCrl, trustedCas} from './manager-trust.js'
import {writeComputerIdentity} from './identity.js'
import {bootstrapIdentity} from '../pki/bootstrap.js'
import {pemBlocks} from '../pki/pem.js'
import {AgentState, DsaCore, RESET_REMOVES} from './store.js'

/**
 * What the agent answers, command by command. The agent never asks for anything: each handler
 * only responds to the manager on the other end of an authenticated (or, before activation,
 * bootstrap) channel.
 */

/** Activation material staged on one connection; it lives and dies with that TLS session. */
export interface ActivationStaging {
  keys?: KeyPairPem
  dsmCertPem?: string
  dsmCaCertPem?: string
}

export interface SessionContext {
  store: DsaCore
  db: Database
  /** The security context this connection was accepted in. */
  context: SecurityContext
  /** The manager's certificate as presented in this connection's handshake. */
  peer?: crypto.X509Certificate
  staging: ActivationStaging
  hostname: string
  now(): Date
  /** Where a new agent key pair comes from (native RSA generation; a pool in benchmarks). */
  generateKeys(): Promise<KeyPairPem>
  /** On a connection the agent opened to ask for activation: its dsa_control arguments. */
  activationRequest?: ActivationRequestArgs
  /** On a heartbeat the operator asked for (dsa_control -m words): told in GetAgentStatus. */
  heartbeatRequest?: HeartbeatRequest
  /** Called with each command's name as it arrives (dsa_control prints one line per command). */
  onCommand?: (name: string) => void
  /** The manager's verdict, when it sends ReportActivationResult on this connection. */
  report?: ActivationReport
  /** The manager address this connection went to (agent-initiated), remembered at activation. */
  managerAddress?: string
  /** Mutual sessions: the agent certificate presented in this session's handshake. */
  sessionCertificateSha256?: string
  /** Requests the manager sent on this connection (none: it refused us after the handshake). */
  requests: number
  /** This session installed a renewed certificate: the agent reconnects with it (the manager's confirmation). */
  renewed?: boolean
  log: Logger
  /** Tell the runtime this process changed the agent's state (so it does not report it as noticed). */
  stateChangedHere(state: AgentState): void
}

type Body<N extends CommandName> = v.InferOutput<(typeof MESSAGES)[N]['request']>
type Handlers = {[N in CommandName]: (ctx: SessionContext, body: Body<N>) => Promise<Reply<N>> | Reply<N>}

const AGENT_VERSION = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version: string}).version

function currentCertificateSha256(store: DsaCore): string {
  const pem = store.read('cert')
  return pem && store.state() === 'activated' ? fingerprint(parseCertificate(pem, 'ds_agent.crt')) : bootstrapIdentity().sha256
}

/** CA certificates, one or more in one PEM text; anything else refused. */
function caBundle(pem: string, command: string): crypto.X509Certificate[] {
  const cas = pemBlocks(pem).filter((b) => b.label === 'CERTIFICATE').map((b) => parseCertificate(b.text, `a certificate sent with ${command}`))
  if (cas.length === 0 || cas.length > 4) throw new TetherError('usage', 'bad-ca-bundle', `${command} must carry one to four CA certificates, not ${cas.length}`)
  if (!cas.every((ca) => ca.ca)) throw new TetherError('usage', 'not-a-ca', `${command} carries a certificate that is not a CA`)
  return cas
}

function certificateField(body: {certificate: string}, command: string): crypto.X509Certificate & {pem: string} {
  const pem = body.certificate
  const certificate = parseCertificate(pem, `the certificate sent with ${command}`)
  return Object.assign(certificate, {pem})
}

/** Bootstrap commands are for an agent not yet activated; once activated, they are refused. */
function requireNotActivated(ctx: SessionContext): void {
  if (ctx.store.state() === 'activated') {
    throw new TetherError('refused', 'already-activated', 'this agent is already activated', {
      hint: 'reconnect over mutual TLS; to move it to another manager, deactivate or reset it (`dsa_control -r`) first',
    })
  }
}

const HANDLERS: Handlers = {
  GetHostInfo(ctx) {
    return {
      hostname: ctx.hostname,
      platform: process.platform,
      osRelease: os.release(),
      arch: process.arch,
      agentVersion: AGENT_VERSION,
      state: ctx.store.state(),
      clock: ctx.now().toISOString(),
      certificateSha256: currentCertificateSha256(ctx.store),
      ...(ctx.activationRequest ? {activationRequest: ctx.activationRequest} : {}),
    }
  },

  async GenerateAgentCSR(ctx, body) {
    if (!isRekey(ctx, body) && !isRenewal(ctx, body)) requireNotActivated(ctx)
    // Lazy: node-forge (in pki/x509) loads only when a CSR is made.
    const {createCsr} = await import('../pki/x509.js')
    // The key pair is made here and its private half never leaves this process until it is
    // written to ds_agent.key (0600) at SetAgentCredentials.
    ctx.staging.keys = await ctx.generateKeys()
    const commonName = body.commonName || ctx.hostname
    const csr = await createCsr({commonName, organizationalUnit: 'agent'}, ctx.staging.keys.publicKeyPem, ctx.staging.keys.privateKeyPem)
    failpoint(isRenewal(ctx, body) ? 'renewal:after-csr' : 'activation:after-csr')
    return {csr}
  },

  SetDSMCert(ctx, body) {
    requireNotActivated(ctx)
    const cert = certificateField(body, 'SetDSMCert')
    // The manager certificate installed must be the one that proved its key in this handshake.
    if (!ctx.peer || !ctx.peer.raw.equals(cert.raw)) {
      throw new TetherError('trust', 'dsm-cert-not-peer', 'SetDSMCert carries a certificate other than the one the manager presented on this connection', {
        hint: 'the manager must send its own TLS certificate',
      })
    }

    ctx.staging.dsmCertPem = cert.pem
    return {accepted: true, sha256: fingerprint(cert)}
  },

  SetDSMCACert(ctx, body) {
    requireNotActivated(ctx)
    // One CA, or two while the manager rotates its CA (the issuing one first).
    const cas = caBundle(body.certificate, 'SetDSMCACert')
    const dsm = ctx.staging.dsmCertPem ? parseCertificate(ctx.staging.dsmCertPem, 'manager certificate') : undefined
    if (!dsm) throw new TetherError('usage', 'out-of-order', 'SetDSMCACert before SetDSMCert', {hint: 'send SetDSMCert first'})
    if (!cas.some((ca) => issuedBy(dsm, ca))) {
      throw new TetherError('trust', 'dsm-cert-not-from-ca', 'the manager certificate is not issued by the CA certificate sent with SetDSMCACert')
    }

    ctx.staging.dsmCaCertPem = body.certificate
    return {accepted: true, sha256: fingerprint(cas[0])}
  },

  async SetTrustBundle(ctx, body) {
    const cas = caBundle(body.certificate, 'SetTrustBundle')
    // Continuity: the manager (authenticated in this session) moves the agent from CAs it trusts
    // to others one step at a time, never to a set that shares none with the current one.
    const current = trustedCas(ctx.store)
    if (!cas.some((ca) => current.some((held) => held.raw.equals(ca.raw)))) {
      throw new TetherError('trust', 'trust-bundle-unrelated', 'the trust bundle holds none of the CAs this agent trusts now', {hint: 'a CA rotation moves agents through a phase that trusts both CAs (tether manager ca rotate)'})
    }

    await ctx.store.lockedAsync(() => {
      requireSameActivation(ctx)
      ctx.store.commit({write: {dsmCaCert: body.certificate}})
    })
    const trustedCaSha256 = cas.map((ca) => fingerprint(ca))
    recordEvent(ctx.db, 'trust-bundle-installed', {trustedCaSha256})
    ctx.log.info('trust-bundle-installed', {trustedCaSha256: trustedCaSha256.join(',')})
    return {trustedCaSha256}
  },

  async SetAgentCredentials(ctx, body) {
    if (isRekey(ctx, body)) return installRekeyedCredentials(ctx, body)
    if (isRenewal(ctx, body)) return installRenewedCredentials(ctx, body)
    const agentCert = certificateField(body, 'SetAgentCredentials')
    const {keys, dsmCertPem, dsmCaCertPem} = ctx.staging
    if (!keys || !dsmCertPem || !dsmCaCertPem) {
      throw new TetherError('usage', 'out-of-order', 'SetAgentCredentials before GenerateAgentCSR, SetDSMCert and SetDSMCACert on this connection', {
        hint: 'run the whole activation sequence over one connection',
      })
    }

    const cas = caBundle(dsmCaCertPem, 'SetDSMCACert')
    if (!keyMatchesCertificate(loadPrivateKey(keys.privateKeyPem, 'pending agent key'), agentCert)) {
      throw new TetherError('trust', 'agent-cert-key-mismatch', 'the agent certificate is not for the key this agent generated')
    }

    if (!cas.some((ca) => issuedBy(agentCert, ca))) throw new TetherError('trust', 'agent-cert-not-from-ca', 'the agent certificate is not issued by the manager CA')
    // The manager's CRL, checked against the CA being installed, goes in with the credentials.
    if (body.crl !== undefined) acceptCrl(ctx.store, body.crl, cas)
    const problem = validityProblem(agentCert, ctx.now())
    if (problem) throw new TetherError('trust', `agent-cert-${problem}`, `the agent certificate is ${problem.replaceAll('-', ' ')}`)

    await ctx.store.lockedAsync(() => {
      requireNotActivated(ctx)
      const binding = ctx.store.read('dsmCert')
      if (binding !== undefined && !parseCertificate(binding, 'ds_agent_dsm.crt').raw.equals(parseCertificate(dsmCertPem, 'manager certificate').raw)) {
        throw new TetherError('trust', 'bound-to-other-manager', 'this agent is bound to another manager')
      }

      failpoint('activation:before-commit')
      const communication = communicationFrom(body.communication, ctx.managerAddress)
      // One journaled change: a crash leaves the agent either unactivated or fully activated.
      ctx.store.commit({write: {key: keys.privateKeyPem, cert: agentCert.pem, dsmCert: dsmCertPem, dsmCaCert: dsmCaCertPem, comm: JSON.stringify(communication), ...(body.crl === undefined ? {} : {crl: body.crl})}})
      failpoint('activation:after-commit')
    })
    ctx.staging.keys = undefined
    ctx.stateChangedHere('activated')
    const activated = {certificateSha256: fingerprint(agentCert), managerSha256: fingerprint(parseCertificate(dsmCertPem, 'manager'))}
    recordEvent(ctx.db, 'activated', activated)
    ctx.log.info('activated', {...activated, managerAddress: ctx.managerAddress})
    return {state: 'activated', certificateSha256: fingerprint(agentCert)}
  },

  async GetAgentStatus(ctx) {
    const status = await ctx.store.statusAsync()
    return {
      state: status.state,
      hostname: ctx.hostname,
      certificateSha256: status.certificateHash.sha256,
      managerSha256: status.manager?.sha256,
      caSha256: status.caCertificate?.sha256,
      trustedCaSha256: trustedCas(ctx.store).map((ca) => fingerprint(ca)),
      clock: ctx.now().toISOString(),
      ...(status.configuration ? {configuration: status.configuration} : {}),
      crlNumber: crlNumber(heldCrl(ctx.store)),
      ...(ctx.heartbeatRequest ? {heartbeatRequest: ctx.heartbeatRequest} : {}),
      managerAddresses: ctx.store.communication()?.managerAddresses ?? [],
      eventsWaiting: hasEvents(ctx.db),
    }
  },

  async SetSecurityConfiguration(ctx, body) {
    const applied = await applyConfiguration(ctx.store, ctx.db, body.envelope, ctx.now(), () => requireSameActivation(ctx), ctx.log)
    if (body.identity) writeComputerIdentity(ctx.store, body.identity)
    return applied
  },

  GetAgentEvents(ctx, body) {
    const limit = Math.min(Math.max(body.limit || 500, 1), 5000)
    const events = listEvents(ctx.db, body.after ?? 0, limit + 1)
    failpoint('agent-events:pulled')
    return {instance: agentInstance(ctx.db), events: events.slice(0, limit), more: events.length > limit}
  },

  AckAgentEvents(ctx, body) {
    if (body.instance !== agentInstance(ctx.db)) {
      throw new TetherError('refused', 'events-instance-mismatch', 'the acknowledgement is for another event database', {hint: 'pull events again'})
    }

    failpoint('agent-events:ack-received')
    return {deleted: acknowledgeEvents(ctx.db, body.through)}
  },

  async SetCommunication(ctx, body) {
    const current = ctx.store.communication()
    const next = communicationFrom({...current, ...body}, current?.managerAddress ?? undefined)
    await ctx.store.lockedAsync(() => {
      requireSameActivation(ctx)
      ctx.store.commit({write: {comm: JSON.stringify(next)}})
    })
    ctx.log.info('communication-changed', {mode: next.mode, heartbeatSeconds: next.heartbeatSeconds, managerAddress: next.managerAddress})
    return {...next}
  },

  async Deactivate(ctx) {
    await ctx.store.lockedAsync(() => {
      requireSameActivation(ctx)
      ctx.store.commit({remove: RESET_REMOVES})
    })
    ctx.stateChangedHere('unactivated')
    const managerSha256 = ctx.peer ? fingerprint(ctx.peer) : undefined
    recordEvent(ctx.db, 'deactivated', {managerSha256})
    ctx.log.info('deactivated', {managerSha256})
    return {state: 'unactivated'}
  },

  async SetRevocationList(ctx, body) {
    const delivered = crlNumber(acceptCrl(ctx.store, body.crl))
    const held = crlNumber(heldCrl(ctx.store))
    // A CRL never goes back: an older one (from a node that has not caught up) changes nothing.
    if (held >= delivered) return {number: held}
    await ctx.store.lockedAsync(() => {
      requireSameActivation(ctx)
      ctx.store.commit({write: {crl: body.crl}})
    })
    ctx.log.info('crl-installed', {number: delivered})
    return {number: delivered}
  },

  ReportActivationResult(ctx, body) {
    ctx.report = body
    return {received: true}
  },

}

/** The manager's communication settings over the defaults; the address the agent dialled is the fallback. */
function communicationFrom(change: Partial<AgentCommunication> | undefined, dialled?: string): AgentCommunication {
  return {
    managerAddress: change?.managerAddress || (dialled ?? null),
    ...(change?.managerAddresses ? {managerAddresses: change.managerAddresses} : {}),
    mode: change?.mode ?? 'bidirectional',
    heartbeatSeconds: change?.heartbeatSeconds ?? 600,
    ...(change?.renewAfter === undefined ? {} : {renewAfter: change.renewAfter}),
  }
}

/** Renewal: over mutual TLS, a new key pair and certificate for the same computer (same subject). */
function isRenewal(ctx: SessionContext, body: {renew?: boolean}): boolean {
  return ctx.context === 'mutual' && body.renew === true
}

async function installRenewedCredentials(ctx: SessionContext, body: Body<'SetAgentCredentials'>): Promise<Reply<'SetAgentCredentials'>> {
  const renewed = certificateField(body, 'SetAgentCredentials')
  const keys = ctx.staging.keys
  if (!keys) throw new TetherError('usage', 'out-of-order', 'SetAgentCredentials (renew) before GenerateAgentCSR (renew) on this connection')
  if (!keyMatchesCertificate(loadPrivateKey(keys.privateKeyPem, 'pending agent key'), renewed)) {
    throw new TetherError('trust', 'agent-cert-key-mismatch', 'the renewed certificate is not for the key this agent generated')
  }

  const current = parseCertificate(ctx.store.read('cert')!, 'ds_agent.crt')
  if (renewed.subject !== current.subject) throw new TetherError('trust', 'renewal-subject-changed', 'a renewed certificate must keep the computer\'s subject (its GUID)')
  if (!trustedCas(ctx.store).some((ca) => issuedBy(renewed, ca))) throw new TetherError('trust', 'agent-cert-not-from-ca', 'the renewed certificate is not issued by a CA this agent trusts')
  const problem = validityProblem(renewed, ctx.now())
  if (problem) throw new TetherError('trust', `agent-cert-${problem}`, `the renewed certificate is ${problem.replaceAll('-', ' ')}`)
  if (body.crl !== undefined) acceptCrl(ctx.store, body.crl)
  failpoint('renewal:before-commit')
  await ctx.store.lockedAsync(() => {
    requireSameActivation(ctx)
    // Key and certificate together, in one journaled change: the agent holds the old pair or the new.
    const communication = body.communication ? communicationFrom({...ctx.store.communication(), ...body.communication}) : undefined
    ctx.store.commit({write: {key: keys.privateKeyPem, cert: renewed.pem, ...(body.crl === undefined ? {} : {crl: body.crl}), ...(communication ? {comm: JSON.stringify(communication)} : {})}})
    failpoint('renewal:after-commit')
  })
  ctx.staging.keys = undefined
  ctx.renewed = true
  const sha256 = fingerprint(renewed)
  recordEvent(ctx.db, 'certificate-renewed', {certificateSha256: sha256, notAfter: new Date(renewed.validTo).toISOString()})
  ctx.log.info('certificate-renewed', {certificateSha256: sha256, notAfter: new Date(renewed.validTo).toISOString()})
  return {state: 'activated', certificateSha256: sha256}
}

/**
 * Re-keying: over mutual TLS, the manager that activated this agent may give it a new key and
 * certificate from the same CA (how a cloned or unknown agent is reactivated as a new computer).
 */
function isRekey(ctx: SessionContext, body: {rekey?: boolean}): boolean {
  return ctx.context === 'mutual' && body.rekey === true
}

async function installRekeyedCredentials(ctx: SessionContext, body: Body<'SetAgentCredentials'>): Promise<Reply<'SetAgentCredentials'>> {
  const agentCert = certificateField(body, 'SetAgentCredentials')
  const keys = ctx.staging.keys
  if (!keys) throw new TetherError('usage', 'out-of-order', 'SetAgentCredentials (rekey) before GenerateAgentCSR (rekey) on this connection')
  const ca = parseCertificate(ctx.store.read('dsmCaCert')!, 'ds_agent_dsm_ca.crt')
  if (!keyMatchesCertificate(loadPrivateKey(keys.privateKeyPem, 'pending agent key'), agentCert)) {
    throw new TetherError('trust', 'agent-cert-key-mismatch', 'the agent certificate is not for the key this agent generated')
  }

  if (!issuedBy(agentCert, ca)) throw new TetherError('trust', 'agent-cert-not-from-ca', 'the new agent certificate is not issued by the CA this agent trusts')
  await ctx.store.lockedAsync(() => {
    requireSameActivation(ctx)
    const communication = body.communication ? communicationFrom({...ctx.store.communication(), ...body.communication}) : ctx.store.communication()
    ctx.store.commit({write: {key: keys.privateKeyPem, cert: agentCert.pem, ...(communication ? {comm: JSON.stringify(communication)} : {})}, remove: ['config', 'configMeta']})
  })
  ctx.staging.keys = undefined
  ctx.stateChangedHere('activated')
  recordEvent(ctx.db, 'rekeyed', {certificateSha256: fingerprint(agentCert)})
  ctx.log.info('rekeyed', {certificateSha256: fingerprint(agentCert)})
  return {state: 'activated', certificateSha256: fingerprint(agentCert)}
}

/**
 * A mutual session was accepted for the credentials on disk at its handshake; if a reset,
 * deactivation or re-key replaced them since, it may no longer change anything.
 */
function requireSameActivation(ctx: SessionContext): void {
  const pem = ctx.store.read('cert')
  if (ctx.store.state() !== 'activated' || !pem || (ctx.sessionCertificateSha256 && fingerprint(parseCertificate(pem, 'ds_agent.crt')) !== ctx.sessionCertificateSha256)) {
    throw new TetherError('refused', 'activation-changed', 'this agent was reset, deactivated or re-keyed during the session', {hint: 'reconnect'})
  }
}

/** Run one command in the connection's context; refusals are TetherErrors the server maps to HTTP. */
export async function dispatchCommand(ctx: SessionContext, name: CommandName, raw: unknown): Promise<Reply<CommandName>> {
  if (ctx.context !== 'mutual' && !BOOTSTRAP_COMMANDS.has(name)) {
    throw new TetherError('trust', 'requires-activation', `${name} needs an activated agent over mutual TLS; this connection is in the ${ctx.context} context`, {
      hint: 'activate the agent first (tether manager activate, or dsa_control -a)',
    })
  }

  const body = parseRequest(name, raw)
  const rekeyCommand = (name === 'GenerateAgentCSR' || name === 'SetAgentCredentials') && (isRekey(ctx, body as {rekey?: boolean}) || isRenewal(ctx, body as {renew?: boolean}))
  if (ctx.context === 'mutual' && BOOTSTRAP_COMMANDS.has(name) && name !== 'GetHostInfo' && name !== 'ReportActivationResult' && !rekeyCommand) {
    throw new TetherError('refused', 'already-activated', `${name} is an activation command and this agent is already activated`, {
      hint: 'deactivate or reset the agent (`dsa_control -r`) before activating it again',
    })
  }

  // The body was checked against this command's schema just above.
  const handler = HANDLERS[name] as (ctx: SessionContext, body: unknown) => Promise<Reply<CommandName>> | Reply<CommandName>
  return handler(ctx, body)
}
