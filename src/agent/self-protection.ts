import type {ScryptOptions} from 'node:crypto'
import path from 'node:path'

import {TetherError} from '../errors.js'
import {PRIVATE_FILE_MODE, readIfExists, writeFileAtomic} from '../platform/fsutil.js'
import type {DsaCoreFiles} from './store-files.js'
import type {DsaCore} from './store.js'

/**
 * Self-protection, the local half of "protect the agent": when the manager's policy sets a
 * password (`{"selfProtection": {"password": "..."}}`), local `dsa_control -r, -m, -s, -u, -w, -d`
 * need it with `-p`; `-a`, `-x` and `-y` never do, as the classic documentation says. The agent
 * keeps only a slow hash (scrypt) of the password, never the password.
 */

export const SELF_PROTECTION_FILE = 'ds_agent.selfprotect.json'

// Loaded when a password is checked or set: dsa_control -r and -m of an unprotected agent never load it (3 ms of a cold start).
const crypto = () => process.getBuiltinModule('node:crypto')
// 2^15 x 8 x 128 bytes = 32 MiB and ~0.1 s per check: slow to guess, quick for an operator.
const PARAMS = {N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024}
const KEY_LENGTH = 32

interface Stored {
  /** Whether protection is on (dsa_control -s 1|0). */
  enabled: boolean
  /** The policy's password, as scrypt hash; absent: the policy sets none. */
  password?: {salt: string; hash: string; N: number; r: number; p: number}
}

function file(store: DsaCoreFiles): string {
  return path.join(store.dir, SELF_PROTECTION_FILE)
}

function read(store: DsaCoreFiles): Stored {
  const text = readIfExists(file(store))?.toString('utf8')
  if (text === undefined) return {enabled: false}
  try {
    return JSON.parse(text) as Stored
  } catch {
    // Refuse rather than open up: a damaged file must not turn protection off.
    return {enabled: true, password: {salt: '', hash: '', ...PARAMS}}
  }
}

export function selfProtectionStatus(store: DsaCoreFiles): {enabled: boolean; passwordSet: boolean; protecting: boolean} {
  const stored = read(store)
  const passwordSet = Boolean(stored.password) && store.appliedConfiguration() !== undefined
  return {enabled: stored.enabled, passwordSet, protecting: stored.enabled && passwordSet}
}

async function hashOf(password: string, salt: Buffer, params: {N: number; r: number; p: number}): Promise<Buffer> {
  const options: ScryptOptions = {...params, maxmem: PARAMS.maxmem}
  return new Promise((resolve, reject) => {
    crypto().scrypt(password, salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

/** Refuse a protected operation without the right password (`dsa_control ... -p PASSWORD`). */
export async function requireUnprotected(store: DsaCoreFiles, what: string, password: string | undefined): Promise<void> {
  const stored = read(store)
  // The password comes with a configuration; once that is gone (deactivated, reset), so is protection.
  if (!stored.enabled || !stored.password || store.appliedConfiguration() === undefined) return
  if (password === undefined) {
    throw new TetherError('refused', 'self-protected', `${what} is refused: this agent is self-protected by its manager's policy`, {hint: 'give the self-protection password with -p PASSWORD (-p * asks on a terminal)'})
  }

  const {salt, hash, N, r, p} = stored.password
  const given = await hashOf(password, Buffer.from(salt, 'base64'), {N, r, p})
  const expected = Buffer.from(hash, 'base64')
  if (expected.length !== given.length || !crypto().timingSafeEqual(given, expected)) {
    throw new TetherError('refused', 'self-protection-password-wrong', `${what} is refused: the self-protection password is wrong`, {hint: "ask the manager's administrator for the password set in the policy"})
  }
}

/** Turn protection on or off locally (dsa_control -s 1|0); the caller checked the password. */
export function setSelfProtection(store: DsaCore, enabled: boolean): {enabled: boolean; passwordSet: boolean; protecting: boolean} {
  store.locked(() => writeFileAtomic(file(store), JSON.stringify({...read(store), enabled}), PRIVATE_FILE_MODE))
  return selfProtectionStatus(store)
}

/**
 * A configuration was applied: take its self-protection password (hashed here; an empty or
 * missing one clears it). A new policy password turns protection on, as the classic manager does.
 */
export async function applyPolicySelfProtection(store: DsaCore, configurationBytes: Buffer): Promise<void> {
  let section: {password?: unknown; enabled?: unknown} | undefined
  try {
    section = (JSON.parse(configurationBytes.toString('utf8')) as {document?: {selfProtection?: typeof section}}).document?.selfProtection
  } catch {
    return
  }

  const password = typeof section?.password === 'string' && section.password !== '' ? section.password : undefined
  const salt = crypto().randomBytes(16)
  const hashed = password === undefined ? undefined : {salt: salt.toString('base64'), hash: (await hashOf(password, salt, PARAMS)).toString('base64'), N: PARAMS.N, r: PARAMS.r, p: PARAMS.p}
  const enabled = section?.enabled === false ? false : Boolean(hashed)
  await store.lockedAsync(() => writeFileAtomic(file(store), JSON.stringify({enabled, ...(hashed ? {password: hashed} : {})}), PRIVATE_FILE_MODE))
}
