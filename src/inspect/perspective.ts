import crypto from 'node:crypto'
import fs from 'node:fs'

import {bootstrapIdentity} from '../agent/bootstrap.js'
import {DsaCore, type AgentState} from '../agent/store.js'
import {TetherError} from '../errors.js'
import {DEFAULT_MAX_CLOCK_SKEW_MS, checkClockSkew, classifyPeer} from '../manager/activation.js'
import {isIssuedCertificate} from '../manager/computers.js'
import {ManagerHome, type ManagerCredentials} from '../manager/home.js'
import {listRevoked} from '../manager/revocation.js'
import {getSettings} from '../manager/settings.js'
import {issuedBy} from '../pki/inspect.js'
import type {Database} from '../platform/sqlite.js'
import type {HostInfo} from '../protocol/commands.js'

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
  credentials: ManagerCredentials
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
  const credentials = home.loadCredentials()
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
  if (seen.manager) return classifyPeer(cert, seen.manager.credentials)
  if (cert.raw.equals(bootstrapIdentity().certificate.raw)) return 'bootstrap'
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

export interface Registry {
  certificate(sha256: string): CertificateRecord | undefined
  maxClockSkewMs(): number
  close(): void
}

/** The manager registry, read-only use: revocation and the clock-skew setting. */
export async function openRegistry(manager: ManagerMaterial): Promise<Registry> {
  const db = await new ManagerHome(manager.dir).openRegistry()
  return {
    certificate: (sha256) => certificateRecord(db, sha256),
    maxClockSkewMs: () => getSettings(db).maxClockSkewSeconds * 1000,
    close: () => db.close(),
  }
}

// store: the revocation lookup, through the registry's own queries (one row would do).
function certificateRecord(db: Database, sha256: string): CertificateRecord | undefined {
  if (!isIssuedCertificate(db, sha256)) return undefined
  const revoked = listRevoked(db).find((entry) => entry.sha256 === sha256)
  return revoked ? {revokedAt: revoked.revokedAt, reason: revoked.reason} : {}
}

/** The manager's allowance when no registry says otherwise. */
export const DEFAULT_CLOCK_SKEW_MS = DEFAULT_MAX_CLOCK_SKEW_MS

/** The activation rule on clock skew: undefined within it, else the manager's refusal (or `bad-clock`). */
export function clockSkewProblem(clock: string, now: Date, maxSkewMs: number): {code: string; message: string} | undefined {
  try {
    // The rule reads only the agent's clock from its host information.
    checkClockSkew({clock} as HostInfo, now, maxSkewMs)
    return undefined
  } catch (error) {
    if (error instanceof TetherError) return {code: error.code, message: error.message}
    throw error
  }
}
