import path from 'node:path'

import {TetherError} from '../errors.js'
import {PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, readIfExists, removeFileDurable, writeFileAtomic} from '../platform/fsutil.js'

/**
 * A CA rotation on disk, in an embedded home. ca.crt/ca.key stay the installation's CA until
 * retire; the new CA is ca-next.crt/ca-next.key, with ca-next-cross.crt (the new CA's key and name
 * signed by the old CA). ca-rotation.json says the phase and is the one write that switches it.
 * Retire copies the new CA over ca.* under the phase `retiring`, then removes the rest, so a
 * crash at any point leaves a home that loads (the loader reads ca-next.* while they exist).
 */

export const ROTATION_FILES = {
  state: 'ca-rotation.json',
  nextCert: 'ca-next.crt',
  nextKey: 'ca-next.key',
  cross: 'ca-next-cross.crt',
} as const

export type StoredPhase = 'prepared' | 'active' | 'retiring'

export interface StoredRotation {
  phase: StoredPhase
  preparedAt: string
  activatedAt?: string
}

const file = (dir: string, name: keyof typeof ROTATION_FILES) => path.join(dir, ROTATION_FILES[name])

export function readRotation(dir: string): StoredRotation | undefined {
  const raw = readIfExists(file(dir, 'state'))
  if (raw === undefined) return undefined
  try {
    const parsed = JSON.parse(raw.toString('utf8')) as StoredRotation
    if (!['prepared', 'active', 'retiring'].includes(parsed.phase) || typeof parsed.preparedAt !== 'string') throw new Error('unknown phase')
    return parsed
  } catch (error) {
    throw new TetherError('internal', 'home-corrupted', `the manager home ${dir} is damaged: ${ROTATION_FILES.state} is not a CA rotation state (${(error as Error).message})`, {
      hint: 'restore it from a backup; `tether manager ca rotate status` shows the phase once it reads',
    })
  }
}

export function readRotationFile(dir: string, name: 'nextCert' | 'nextKey' | 'cross'): string | undefined {
  return readIfExists(file(dir, name))?.toString('utf8')
}

/** The new CA's files, written before the phase that uses them. */
export function writeNextCa(dir: string, next: {certPem: string; keyPem: string; crossPem: string}): void {
  writeFileAtomic(file(dir, 'nextKey'), next.keyPem, PRIVATE_FILE_MODE)
  writeFileAtomic(file(dir, 'nextCert'), next.certPem, PUBLIC_FILE_MODE)
  writeFileAtomic(file(dir, 'cross'), next.crossPem, PUBLIC_FILE_MODE)
}

export function writeRotation(dir: string, state: StoredRotation): void {
  writeFileAtomic(file(dir, 'state'), `${JSON.stringify(state, null, 2)}\n`, PUBLIC_FILE_MODE)
}

/** Rollback from prepared: the phase goes first, so a crash leaves leftovers the loader ignores. */
export function removeRotation(dir: string): void {
  removeFileDurable(file(dir, 'state'))
  for (const name of ['cross', 'nextKey', 'nextCert'] as const) removeFileDurable(file(dir, name))
}

/**
 * Retire: the new CA becomes ca.crt/ca.key. Under the phase `retiring` the loader takes the new CA
 * from ca-next.* while its certificate is there, else from ca.* (by then the new one), so every
 * crash point loads; `finishRetire` is idempotent and run again by whoever finds the phase.
 */
export function finishRetire(dir: string, caFiles: {cert: string; key: string}): void {
  const certPem = readRotationFile(dir, 'nextCert')
  const keyPem = readRotationFile(dir, 'nextKey')
  if (certPem !== undefined) {
    if (keyPem !== undefined) writeFileAtomic(caFiles.key, keyPem, PRIVATE_FILE_MODE)
    writeFileAtomic(caFiles.cert, certPem, PUBLIC_FILE_MODE)
  }

  // The certificate last: while it is there, ca-next.* is what the loader reads.
  removeFileDurable(file(dir, 'cross'))
  removeFileDurable(file(dir, 'nextKey'))
  removeFileDurable(file(dir, 'nextCert'))
  removeFileDurable(file(dir, 'state'))
}
