import crypto from 'node:crypto'
import zlib from 'node:zlib'

import {TetherError} from '../errors.js'
import {buildEnvelope} from '../pki/cms.js'
import {signData} from '../pki/signed-data.js'
import type {Request} from '../protocol/messages.js'
import {Computer, findComputer, reload} from './computers.js'
import type {ManagerContext, StoreContext} from './context.js'
import type {ManagerStore, Policy} from './store/store.js'

export type {Policy} from './store/store.js'

/**
 * Policies: named JSON documents. A computer's configuration is its policy rendered as a canonical
 * JSON document, gzipped, then encrypted to the agent's certificate (CMS) when it is sent.
 */

/** The configuration an agent receives; its SHA-256 is the fingerprint both sides report. */
export interface Configuration {
  policy: string
  version: number
  document: Record<string, unknown>
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

export async function findPolicy(store: ManagerStore, ref: string): Promise<Policy> {
  const policy = await store.policies.find(ref)
  if (!policy) throw new TetherError('notFound', 'policy-not-found', `no policy "${ref}"`, {hint: 'list them with `tether manager policies list`'})
  return policy
}

/** Create a policy; with `replace`, a new version of an existing one (its computers get it queued). */
export async function savePolicy(ctx: StoreContext, name: string, document: Record<string, unknown>, options: {replace?: boolean} = {}): Promise<{policy: Policy; queued: number}> {
  if (!/^[\p{L}\p{N} ._-]{1,128}$/u.test(name)) {
    throw new TetherError('usage', 'bad-policy-name', `"${name}" is not a valid policy name`, {hint: 'letters, digits, spaces, dots, dashes and underscores, up to 128'})
  }

  const saved = await ctx.store.policies.save({
    name,
    document,
    replace: options.replace ?? false,
    at: ctx.now(),
    sha256: (version) => configurationSha256({policy: name, version, document}),
  })
  if (saved.existed && !options.replace) {
    throw new TetherError('refused', 'policy-exists', `a policy named "${name}" already exists (version ${saved.policy.version})`, {hint: 'pass --replace to make a new version'})
  }

  return {policy: saved.policy, queued: saved.queued}
}

export async function assignPolicy(ctx: StoreContext, policyRef: string, computerRef: string): Promise<{policy: Policy; computer: Computer}> {
  const policy = await findPolicy(ctx.store, policyRef)
  const computer = await findComputer(ctx.store, computerRef)
  await ctx.store.computers.assignPolicy(computer.id, policy.name, ctx.now())
  return {policy, computer: await reload(ctx.store, computer.id)}
}

/** Queue a configuration update unless one is already waiting (it will carry the latest version). */
export async function queueConfiguration(ctx: StoreContext, computerId: number): Promise<void> {
  if ((await ctx.store.operations.queued(computerId)).some((op) => op.command === 'SetSecurityConfiguration')) return
  await ctx.store.operations.queue(computerId, 'SetSecurityConfiguration', {}, ctx.now())
}

/** The policy assigned to a computer (by name, or by id as classic policyid: gives it), if it exists. */
export async function assignedPolicy(store: ManagerStore, computer: Computer): Promise<Policy | undefined> {
  if (!computer.policy) return undefined
  return store.policies.find(computer.policy)
}

/**
 * The body of SetSecurityConfiguration for a computer now: its policy's latest version, gzipped,
 * signed by the manager, in an envelope to its current certificate. Built at send time, never
 * stored in the queue.
 */
export async function configurationCommandBody(ctx: ManagerContext, computer: Computer): Promise<{body: Request<'SetSecurityConfiguration'>; configuration: Configuration; sha256: string}> {
  const {store, credentials} = ctx
  const policy = await assignedPolicy(store, computer)
  if (!policy) throw new TetherError('notFound', 'no-policy', `computer ${computer.id} has no policy assigned`, {hint: 'assign one: tether manager policies assign POLICY COMPUTER'})
  const pem = computer.certSha256 ? await store.certificates.pem(computer.certSha256) : undefined
  if (!pem) throw new TetherError('notFound', 'no-agent-certificate', `the registry has no certificate for computer ${computer.id} to encrypt to`, {hint: 'reactivate the computer'})
  const configuration: Configuration = {policy: policy.name, version: policy.version, document: policy.document}
  // Signed by this manager, then encrypted to the agent: the agent applies only what a manager signed.
  const signed = signData(zlib.gzipSync(configurationBytes(configuration)), credentials.managerCert, credentials.managerKey, ctx.now())
  const envelope = buildEnvelope(signed, new crypto.X509Certificate(pem))
  // Beside it, who the agent is to the manager (dsa_query -c GetConfiguration shows it).
  const {tenantId} = await store.meta.identity()
  const identity = {hostId: computer.id, hostGuid: computer.guid, tenantId, policyId: policy.id, policyName: policy.name}
  return {body: {envelope: envelope.toString('base64'), identity}, configuration, sha256: policy.sha256}
}

export interface ConfigurationState {
  assigned: string | null
  desiredVersion: number | null
  desiredSha256: string | null
  applied: {policy: string | null; version: number | null; sha256: string | null}
  upToDate: boolean
}

export async function configurationState(store: ManagerStore, computer: Computer): Promise<ConfigurationState> {
  return configurationStateWith(computer, await assignedPolicy(store, computer))
}

/** The state against the computer's assigned policy, read by the caller (`assignedPolicy`). */
export function configurationStateWith(computer: Computer, policy: Policy | undefined): ConfigurationState {
  return {
    assigned: policy?.name ?? computer.policy ?? null,
    desiredVersion: policy?.version ?? null,
    desiredSha256: policy?.sha256 ?? null,
    applied: {policy: computer.configPolicy, version: computer.configVersion, sha256: computer.configSha256},
    upToDate: policy ? computer.configSha256 === policy.sha256 : computer.configSha256 === null,
  }
}
