import crypto from 'node:crypto'
import fs from 'node:fs'

import {crlNumber, heldCrl} from '../agent/manager-trust.js'
import {DsaCore, type AgentState} from '../agent/store.js'
import {TetherError} from '../errors.js'
import {DEFAULT_MAX_CLOCK_SKEW_MS, checkClockSkew} from '../manager/clock.js'
import {trustAnchors} from '../manager/connections.js'
import type {NodeCredentials} from '../manager/credentials.js'
import {ManagerHome} from '../manager/home.js'
import {getSettings} from '../manager/settings.js'
import {bootstrapIdentity} from '../pki/bootstrap.js'
import {fingerprint, issuedBy} from '../pki/certificate.js'
import {classifyPeer, isBootstrapCertificate} from '../pki/peer.js'

/**
 * The one seam between handshake inspection and the two runtimes: every read of a manager home,
 * an agent's dsa_core or the manager registry, and every manager rule inspection applies (what a
 * peer is, clock skew, revocation), goes through here. Nothing else in src/inspect imports
 * src/manager or src/agent, so a change in either is repointed in this file alone.
 */

export type {AgentState}

/** A certificate, its PEM, and the file (or description) it came from. */
export interface Credential {
  pem: string
  certificate: crypto.X509Certificate
  source: string
}

/** A certificate we can present: with its private key. */
export interface Identity extends Credential {
  keyPem: string
}

export interface ManagerMaterial {
  dir: string
  identity: Identity
  ca: Credential
  /** Opaque outside this file: the manager's own rules take it. */
  credentials: NodeCredentials
}

export interface AgentMaterial {
  dsaCore: string
  state: AgentState
  /** ds_agent_dsm_ca.crt, read once the agent is activated. */
  ca?: Credential
  /** ds_agent_dsm.crt: the bound manager before activation, the activating manager after. */
  dsm?: crypto.X509Certificate
}

export function managerHomeExists(dir: string): boolean {
  return fs.existsSync(new ManagerHome(dir).file('managerCert'))
}

/** The manager home's credentials, cross-checked (a missing or damaged home is a clear error). */
export function loadManager(dir: string): ManagerMaterial {
  const home = new ManagerHome(dir)
  const credentials = home.loadNodeCredentials()
  return {
    dir: home.dir,
    identity: {pem: credentials.managerCertPem, keyPem: credentials.managerKeyPem, certificate: credentials.managerCert, source: home.file('managerCert')},
    ca: {pem: credentials.caCertPem, certificate: credentials.caCert, source: home.file('caCert')},
    credentials,
  }
}

/** What an agent's dsa_core says about its manager and CA; its private key is not read here. */
export function loadAgent(dir: string): AgentMaterial {
  const store = new DsaCore(dir)
  if (!store.exists()) {
    throw new TetherError('notFound', 'dsa-core-missing', `no agent dsa_core at ${store.dir}`, {
      hint: 'point --dsa-core / $TETHER_DSA_CORE at the agent\'s dsa_core directory',
    })
  }

  const state = store.state()
  const caPem = state === 'activated' ? store.read('dsmCaCert') : undefined
  const dsmPem = store.read('dsmCert')
  return {
    dsaCore: store.dir,
    state,
    ca: caPem ? {pem: caPem, certificate: new crypto.X509Certificate(caPem), source: `${store.dir}/ds_agent_dsm_ca.crt`} : undefined,
    dsm: dsmPem ? new crypto.X509Certificate(dsmPem) : undefined,
  }
}

/** The CRL an agent holds (delivered by its manager), if any. */
export function agentCrl(agent: AgentMaterial): {number: number; thisUpdate: string; nextUpdate?: string; source: string} | undefined {
  const store = new DsaCore(agent.dsaCore)
  const held = heldCrl(store)
  return held ? {number: crlNumber(held), thisUpdate: held.thisUpdate.toISOString(), ...(held.nextUpdate ? {nextUpdate: held.nextUpdate.toISOString()} : {}), source: store.file('crl')} : undefined
}

/** What the agent presents: its own certificate once activated, before that the shipped bootstrap one. */
export function agentIdentity(agent: AgentMaterial): Identity {
  if (agent.state === 'activated') {
    const store = new DsaCore(agent.dsaCore)
    const pem = store.read('cert')!
    return {pem, keyPem: store.read('key')!, certificate: new crypto.X509Certificate(pem), source: store.file('cert')}
  }

  const bootstrap = bootstrapIdentity()
  return {pem: bootstrap.certPem, keyPem: bootstrap.keyPem, certificate: bootstrap.certificate, source: `bootstrap certificate (agent ${agent.state})`}
}

export type PeerKind = 'bootstrap' | 'own-agent' | 'own-manager' | 'foreign' | 'unknown' | 'none'

/** What the peer's certificate is: by the manager's rule when we have its home, else from the agent's stored certificates. */
export function classify(cert: crypto.X509Certificate | undefined, seen: {manager?: ManagerMaterial; agent?: AgentMaterial}): PeerKind {
  if (!cert) return 'none'
  if (seen.manager) return classifyPeer(cert, trustAnchors(seen.manager.credentials))
  if (isBootstrapCertificate(cert)) return 'bootstrap'
  const {agent} = seen
  if (agent?.dsm && cert.raw.equals(agent.dsm.raw)) return 'own-manager'
  if (agent?.ca) return issuedBy(cert, agent.ca.certificate) ? 'own-agent' : 'foreign'
  return 'unknown'
}

/** The registry's record of a certificate: absent when this manager never issued it. */
export interface CertificateRecord {
  revokedAt?: string
  reason?: string
}

/** What the manager registry says about the peer, read once after the probe. */
export interface Registry {
  certificate(sha256: string): CertificateRecord | undefined
  maxClockSkewMs(): number
  /** The CRL in force, as published in the registry. */
  crl?: {number: number; thisUpdate: string; nextUpdate: string}
}

export async function openRegistry(manager: ManagerMaterial, peer: crypto.X509Certificate | undefined): Promise<Registry> {
  const store = await new ManagerHome(manager.dir).openStore()
  try {
    const sha256 = peer ? fingerprint(peer) : undefined
    const record = sha256 ? await store.certificates.revocation(sha256) : undefined
    const maxSkewMs = (await getSettings(store)).maxClockSkewSeconds * 1000
    const crl = await store.crls.latest()
    return {
      ...(crl ? {crl: {number: crl.number, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate}} : {}),
      certificate: (wanted) => (wanted === sha256 && record ? {revokedAt: record.revokedAt ?? undefined, reason: record.reason ?? undefined} : undefined),
      maxClockSkewMs: () => maxSkewMs,
    }
  } finally {
    await store.close()
  }
}

/** The manager's allowance when no registry says otherwise. */
export const DEFAULT_CLOCK_SKEW_MS = DEFAULT_MAX_CLOCK_SKEW_MS

/** The activation rule on clock skew: undefined within it, else the manager's refusal (or `bad-clock`). */
export function clockSkewProblem(clock: string, now: Date, maxSkewMs: number): {code: string; message: string} | undefined {
  try {
    checkClockSkew(clock, now, maxSkewMs)
    return undefined
  } catch (error) {
    if (error instanceof TetherError) return {code: error.code, message: error.message}
    throw error
  }
}
