import fs from 'node:fs'
import path from 'node:path'

import {keyMatchesCertificate, loadPrivateKey} from '../pki/keys.js'
import {parseCertificate} from '../pki/certificate.js'
import {PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, readIfExists, removeFileDurable, renameDurable, writeFileAtomic} from '../platform/fsutil.js'
import {DirLock} from '../platform/lock.js'

/**
 * The manager's own certificate changes (renewal; the manager role on a home made by an earlier
 * tether) while the manager runs, and its key and certificate live in two files. A change is made
 * crash-safe: the new pair is written as manager.next.*, the current pair copied to
 * manager.previous.* (kept for agents bound to it), then the next pair renamed over the current.
 * Whoever finds a manager.next.crt first finishes the change (`recoverIdentityChange`), under the
 * home's lock.
 */

export const IDENTITY_FILES = {
  key: 'manager.key',
  cert: 'manager.crt',
  nextKey: 'manager.next.key',
  nextCert: 'manager.next.crt',
  previousKey: 'manager.previous.key',
  previousCert: 'manager.previous.crt',
} as const

type IdentityFile = keyof typeof IDENTITY_FILES

const HOME_LOCK = '.tether.lock'

function file(dir: string, name: IdentityFile): string {
  return path.join(dir, IDENTITY_FILES[name])
}

function read(dir: string, name: IdentityFile): string | undefined {
  return readIfExists(file(dir, name))?.toString('utf8')
}

function pairMatches(keyPem: string | undefined, certPem: string | undefined): boolean {
  if (keyPem === undefined || certPem === undefined) return false
  try {
    return keyMatchesCertificate(loadPrivateKey(keyPem, 'key'), parseCertificate(certPem, 'certificate'))
  } catch {
    return false
  }
}

function withHomeLock<T>(dir: string, fn: () => T): T {
  const lock = DirLock.acquire(dir, {file: HOME_LOCK, what: `the manager home ${dir}`})
  try {
    return fn()
  } finally {
    lock.release()
  }
}

/** Finish a change of the manager's certificate that a crash interrupted. Idempotent; nothing to do usually. */
export function recoverIdentityChange(dir: string): void {
  if (!fs.existsSync(file(dir, 'nextCert')) && !fs.existsSync(file(dir, 'nextKey'))) return
  withHomeLock(dir, () => finishChange(dir))
}

function finishChange(dir: string): void {
  const nextCert = read(dir, 'nextCert')
  const nextKey = read(dir, 'nextKey')
  if (nextCert === undefined) {
    // Only the new key was written: the change never began.
    removeFileDurable(file(dir, 'nextKey'))
    return
  }

  if (nextKey !== undefined) {
    if (!pairMatches(nextKey, nextCert)) {
      removeFileDurable(file(dir, 'nextKey'))
      removeFileDurable(file(dir, 'nextCert'))
      return
    }

    // The current pair is still whole: keep it as the previous one before it is replaced.
    const key = read(dir, 'key')
    const cert = read(dir, 'cert')
    if (pairMatches(key, cert)) {
      writeFileAtomic(file(dir, 'previousKey'), key!, PRIVATE_FILE_MODE)
      writeFileAtomic(file(dir, 'previousCert'), cert!, PUBLIC_FILE_MODE)
    }

    renameDurable(file(dir, 'nextKey'), file(dir, 'key'))
  } else if (!pairMatches(read(dir, 'key'), nextCert)) {
    removeFileDurable(file(dir, 'nextCert'))
    return
  }

  renameDurable(file(dir, 'nextCert'), file(dir, 'cert'))
}

/** Replace the manager's certificate (and key) by a new pair, keeping the current one as previous. */
export function replaceManagerIdentity(dir: string, keyPem: string, certPem: string): void {
  withHomeLock(dir, () => {
    writeFileAtomic(file(dir, 'nextKey'), keyPem, PRIVATE_FILE_MODE)
    writeFileAtomic(file(dir, 'nextCert'), certPem, PUBLIC_FILE_MODE)
    finishChange(dir)
  })
}

/** The previous manager certificate and key, when a change kept them. */
export function previousIdentity(dir: string): {certPem: string; keyPem: string} | undefined {
  const certPem = read(dir, 'previousCert')
  const keyPem = read(dir, 'previousKey')
  return pairMatches(keyPem, certPem) ? {certPem: certPem!, keyPem: keyPem!} : undefined
}

/** Put back a previous pair (a change that made the current one the installation's binding identity keeps the older one for its agents). */
export function keepPreviousIdentity(dir: string, previous: {keyPem: string; certPem: string}): void {
  withHomeLock(dir, () => {
    writeFileAtomic(file(dir, 'previousKey'), previous.keyPem, PRIVATE_FILE_MODE)
    writeFileAtomic(file(dir, 'previousCert'), previous.certPem, PUBLIC_FILE_MODE)
  })
}
