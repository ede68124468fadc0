import crypto from 'node:crypto'
import zlib from 'node:zlib'

import {TetherError} from '../errors.js'
import {buildEnvelope} from '../pki/cms.js'
import type {Database} from '../platform/sqlite.js'
import {Computer, findComputer, issuedCertificatePem} from './computers.js'
import {queueOperation, queuedOperations} from './operations.js'

/**
 * Policies: named JSON documents. A computer's configuration is its policy rendered as a canonical
 * JSON document, gzipped, then encrypted to the agent's certificate (CMS) when it is sent.
 */

export interface Policy {
  id: number
  name: string
  document: Record<string, unknown>
  version: number
  sha256: string
  createdAt: string
  updatedAt: string
}

/** The configuration an agent receives; its SHA-256 is the fingerprint both sides report. */
export interface Configuration {
  policy: string
  version: number
  document: Record<string, unknown>
}

const SELECT = 'SELECT id, name, document, version, sha256, created_at AS createdAt, updated_at AS updatedAt FROM policies'

function fromRow(row: Record<string, unknown> | undefined): Policy | undefined {
  return row ? ({...row, document: JSON.parse(row.document as string)} as Policy) : undefined
}

/** Canonical bytes: keys sorted at every depth, so the fingerprint does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }

  return JSON.stringify(value)
}

export function configurationBytes(configuration: Configuration): Buffer {
  return Buffer.from(canonicalJson(configuration), 'utf8')
}

export function configurationSha256(configuration: Configuration): string {
  return crypto.createHash('sha256').update(configurationBytes(configuration)).digest('hex')
}

export function parsePolicyDocument(text: string, what: string): Record<string, unknown> {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (error) {
    throw new TetherError('usage', 'policy-not-json', `${what} is not valid JSON (${(error as Error).message})`, {hint: 'a policy is a JSON object'})
  }

  if (!document || typeof document !== 'object' || Array.isArray(document)) {
    throw new TetherError('usage', 'policy-not-object', `${what} must be a JSON object`, {hint: 'e.g. {"firewall": {"enabled": true}}'})
  }

  return document as Record<string, unknown>
}

export function listPolicies(db: Database): Policy[] {
  return (db.prepare(`${SELECT} ORDER BY name`).all() as Array<Record<string, unknown>>).map((r) => fromRow(r)!)
}

export function findPolicy(db: Database, ref: string): Policy {
  const policy = fromRow((/^\d+$/.test(ref) ? db.prepare(`${SELECT} WHERE id = ? OR name = ?`).get(Number(ref), ref) : db.prepare(`${SELECT} WHERE name = ?`).get(ref)) as Record<string, unknown> | undefined)
  if (!policy) throw new TetherError('notFound', 'policy-not-found', `no policy "${ref}"`, {hint: 'list them with `tether manager policies list`'})
  return policy
}

/** Create a policy; with `replace`, a new version of an existing one (its computers get it queued). */
export function savePolicy(db: Database, name: string, document: Record<string, unknown>, options: {replace?: boolean} = {}, now: Date = new Date()): {policy: Policy; queued: number} {
  if (!/^[\p{L}\p{N} ._-]{1,128}$/u.test(name)) {
    throw new TetherError('usage', 'bad-policy-name', `"${name}" is not a valid policy name`, {hint: 'letters, digits, spaces, dots, dashes and underscores, up to 128'})
  }

  return db.transaction(() => {
    const existing = fromRow(db.prepare(`${SELECT} WHERE name = ?`).get(name) as Record<string, unknown> | undefined)
    if (existing && !options.replace) {
      throw new TetherError('refused', 'policy-exists', `a policy named "${name}" already exists (version ${existing.version})`, {hint: 'pass --replace to make a new version'})
    }

    const version = (existing?.version ?? 0) + 1
    const sha256 = configurationSha256({policy: name, version, document})
    const at = now.toISOString()
    if (existing) {
      db.prepare('UPDATE policies SET document = ?, version = ?, sha256 = ?, updated_at = ? WHERE id = ?').run(JSON.stringify(document), version, sha256, at, existing.id)
    } else {
      db.prepare('INSERT INTO policies (name, document, version, sha256, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)').run(name, JSON.stringify(document), version, sha256, at, at)
    }

    const policy = findPolicy(db, name)
    let queued = 0
    if (existing) {
      for (const row of db.prepare('SELECT id FROM computers WHERE policy = ? AND state = ?').all(name, 'activated') as Array<{id: number}>) {
        queueConfiguration(db, row.id)
        queued++
      }
    }

    return {policy, queued}
  })()
}

/** Queue a configuration update unless one is already waiting (it will carry the latest version). */
export function queueConfiguration(db: Database, computerId: number): void {
  if (queuedOperations(db, computerId).some((op) => op.command === 'SetSecurityConfiguration')) return
  queueOperation(db, computerId, 'SetSecurityConfiguration', {})
}

export function assignPolicy(db: Database, policyRef: string, computerRef: string): {policy: Policy; computer: Computer} {
  const policy = findPolicy(db, policyRef)
  const computer = findComputer(db, computerRef)
  db.transaction(() => {
    db.prepare('UPDATE computers SET policy = ? WHERE id = ?').run(policy.name, computer.id)
    queueConfiguration(db, computer.id)
  })()
  return {policy, computer: findComputer(db, String(computer.id))}
}

/** The policy assigned to a computer, if it names one that exists. */
export function assignedPolicy(db: Database, computer: Computer): Policy | undefined {
  if (!computer.policy) return undefined
  return fromRow(db.prepare(`${SELECT} WHERE name = ? OR (CAST(id AS TEXT) = ?)`).get(computer.policy, computer.policy) as Record<string, unknown> | undefined)
}

/**
 * The body of SetSecurityConfiguration for a computer now: its policy's latest version, gzipped,
 * in an envelope to its current certificate. Built at send time, never stored in the queue.
 */
export function configurationCommandBody(db: Database, computer: Computer): {body: Record<string, unknown>; configuration: Configuration; sha256: string} {
  const policy = assignedPolicy(db, computer)
  if (!policy) throw new TetherError('notFound', 'no-policy', `computer ${computer.id} has no policy assigned`, {hint: 'assign one: tether manager policies assign POLICY COMPUTER'})
  const pem = computer.certSha256 ? issuedCertificatePem(db, computer.certSha256) : undefined
  if (!pem) throw new TetherError('notFound', 'no-agent-certificate', `the registry has no certificate for computer ${computer.id} to encrypt to`, {hint: 'reactivate the computer'})
  const configuration: Configuration = {policy: policy.name, version: policy.version, document: policy.document}
  const envelope = buildEnvelope(zlib.gzipSync(configurationBytes(configuration)), new crypto.X509Certificate(pem))
  return {body: {envelope: envelope.toString('base64')}, configuration, sha256: policy.sha256}
}

export interface ConfigurationState {
  assigned: string | null
  desiredVersion: number | null
  desiredSha256: string | null
  applied: {policy: string | null; version: number | null; sha256: string | null}
  upToDate: boolean
}

export function configurationState(db: Database, computer: Computer): ConfigurationState {
  const policy = assignedPolicy(db, computer)
  return {
    assigned: policy?.name ?? computer.policy ?? null,
    desiredVersion: policy?.version ?? null,
    desiredSha256: policy?.sha256 ?? null,
    applied: {policy: computer.configPolicy, version: computer.configVersion, sha256: computer.configSha256},
    upToDate: policy ? computer.configSha256 === policy.sha256 : computer.configSha256 === null,
  }
}
