import path from 'node:path'

import {fingerprint, parseCertificate} from '../pki/certificate.js'
import {PRIVATE_FILE_MODE, readIfExists, writeFileAtomic} from '../platform/fsutil.js'
import type {ComputerIdentity} from '../protocol/messages.js'
import type {DsaCore} from './store.js'

/**
 * Who the manager says this computer is (its id, GUID, tenant, policy id), as it sent them with
 * the configuration. Kept for the certificate it came with, so a reset or re-activation never
 * shows the previous computer's identity.
 */

export const IDENTITY_FILE = 'ds_agent.identity.json'

function currentCertificate(store: DsaCore): string | undefined {
  const pem = store.read('cert')
  return pem ? fingerprint(parseCertificate(pem, 'ds_agent.crt')) : undefined
}

export function writeComputerIdentity(store: DsaCore, identity: ComputerIdentity): void {
  const certificateSha256 = currentCertificate(store)
  if (!certificateSha256) return
  writeFileAtomic(path.join(store.dir, IDENTITY_FILE), JSON.stringify({...identity, certificateSha256}), PRIVATE_FILE_MODE)
}

export function readComputerIdentity(store: DsaCore): ComputerIdentity | undefined {
  const text = readIfExists(path.join(store.dir, IDENTITY_FILE))?.toString('utf8')
  if (text === undefined) return undefined
  try {
    const stored = JSON.parse(text) as ComputerIdentity & {certificateSha256?: string}
    if (stored.certificateSha256 !== currentCertificate(store)) return undefined
    const {certificateSha256: _, ...identity} = stored
    return identity
  } catch {
    return undefined
  }
}
