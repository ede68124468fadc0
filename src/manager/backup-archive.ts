import crypto from 'node:crypto'

import {TetherError} from '../errors.js'

/**
 * What a backup holds once decrypted: a JSON manifest (what was backed up, from which manager,
 * each file's name, mode, size and SHA-256), then the files' bytes one after another, in the
 * manifest's order. A 4-byte big-endian length precedes the manifest.
 */

export interface ArchiveFile {
  name: string
  mode: number
  data: Buffer
}

export interface BackupManifest {
  format: 'tether-manager-backup'
  createdAt: string
  tetherVersion?: string
  managerGuid: string
  tenantId: string
  schemaVersion: number
  computers: number
  files: Array<{name: string; mode: number; size: number; sha256: string}>
}

/** A home file name: one path component, nothing that climbs out of the directory it is written to. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

const digest = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex')

export function packArchive(manifest: Omit<BackupManifest, 'format' | 'files'>, files: ArchiveFile[]): Buffer {
  const full: BackupManifest = {format: 'tether-manager-backup', ...manifest, files: files.map((f) => ({name: f.name, mode: f.mode, size: f.data.length, sha256: digest(f.data)}))}
  const json = Buffer.from(JSON.stringify(full), 'utf8')
  const length = Buffer.alloc(4)
  length.writeUInt32BE(json.length)
  return Buffer.concat([length, json, ...files.map((f) => f.data)])
}

/**
 * The manifest and files of a decrypted payload. The payload is already authenticated, so a
 * failure here is a bug or a forgery made with the passphrase; it is refused all the same.
 */
export function unpackArchive(payload: Buffer, what: string, required: string[] = []): {manifest: BackupManifest; files: ArchiveFile[]} {
  const bad = (why: string) => new TetherError('trust', 'backup-tampered', `${what} is damaged or was tampered with: ${why}`, {hint: 'do not use it; use another copy of the backup; nothing was written'})
  if (payload.length < 4) throw bad('no manifest')
  const length = payload.readUInt32BE(0)
  let manifest: BackupManifest
  try {
    manifest = JSON.parse(payload.subarray(4, 4 + length).toString('utf8')) as BackupManifest
  } catch {
    throw bad('its manifest is not JSON')
  }

  if (manifest?.format !== 'tether-manager-backup' || !Array.isArray(manifest.files)) throw bad('its manifest is not a tether manager backup manifest')
  const files: ArchiveFile[] = []
  let at = 4 + length
  for (const entry of manifest.files) {
    if (typeof entry.name !== 'string' || !FILE_NAME.test(entry.name) || files.some((f) => f.name === entry.name)) throw bad(`it names a file ${JSON.stringify(entry.name)}`)
    if (!Number.isInteger(entry.size) || entry.size < 0 || at + entry.size > payload.length) throw bad(`${entry.name} is cut short`)
    const data = payload.subarray(at, (at += entry.size))
    if (digest(data) !== entry.sha256) throw bad(`${entry.name} does not match its SHA-256`)
    files.push({name: entry.name, mode: Number(entry.mode) & 0o777, data})
  }

  if (at !== payload.length) throw bad('it holds bytes no file accounts for')
  const missing = required.filter((name) => !files.some((f) => f.name === name))
  if (missing.length > 0) throw bad(`it holds no ${missing.join(', ')}`)
  return {manifest, files}
}
