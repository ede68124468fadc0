import crypto from 'node:crypto'

import {TetherError} from '../errors.js'

/**
 * The encrypted backup file: a small versioned header, the payload encrypted with AES-256-GCM
 * under a key derived from the passphrase with scrypt, and a SHA-256 of everything before it.
 *
 *   magic "tether-backup\n" (14) | version (1) | kdf: id, log2 N, r, p (4) | salt (16) | iv (12)
 *   | passphrase check (16) | ciphertext length (8, big-endian) | header check (8)
 *   | ciphertext | GCM tag (16) | SHA-256 of all the bytes before it (32)
 *
 * The whole header is the GCM associated data, so no field of it can be changed unnoticed. Two
 * checks that need no passphrase tell damage apart from a wrong passphrase: the trailing SHA-256
 * (any flipped or missing byte) and the header check (the first 8 bytes of a SHA-256 of the header,
 * which makes its length field trustworthy, so a short file reads as truncated, not tampered). The
 * passphrase check (an HMAC under a second derived key) tells a wrong passphrase from a forged
 * ciphertext. Every version keeps the magic, the version byte at offset 14 and the trailing SHA-256.
 */

export const BACKUP_MAGIC = Buffer.from('tether-backup\n')
export const BACKUP_VERSION = 1

export interface ScryptParameters {
  log2N: number
  r: number
  p: number
}

/**
 * N = 2^16, r = 8, p = 1: 64 MiB and about a quarter of a second per derivation on the 2-core
 * machine this was measured on (median of 5 runs, 246 ms; 2^17 took 536 ms). One derivation per
 * backup or restore, so the cost to the operator is paid once while every passphrase guess costs
 * an attacker the same 64 MiB and quarter second. The parameters are in the header: a later
 * version can raise them and still read older backups.
 */
export const DEFAULT_SCRYPT: ScryptParameters = {log2N: 16, r: 8, p: 1}

/** What a header may ask for before it is refused as too costly (a crafted file must not exhaust memory). */
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024
const KDF_SCRYPT = 1
const SALT = 16
const IV = 12
const CHECK = 16
const TAG = 16
const DIGEST = 32
const HEADER_CHECK = 8
const HEADER = BACKUP_MAGIC.length + 1 + 4 + SALT + IV + CHECK + 8 + HEADER_CHECK
const VERSION_AT = BACKUP_MAGIC.length

const sha256 = (...parts: Buffer[]) => parts.reduce((hash, part) => hash.update(part), crypto.createHash('sha256')).digest()

function headerCheck(headerWithoutCheck: Buffer): Buffer {
  return sha256(headerWithoutCheck).subarray(0, HEADER_CHECK)
}

async function deriveKeys(passphrase: string, salt: Buffer, kdf: ScryptParameters): Promise<{key: Buffer; check: Buffer}> {
  const N = 2 ** kdf.log2N
  const derived = await new Promise<Buffer>((resolve, reject) => {
    // NFC: the same passphrase typed on another system (composed or decomposed accents) still opens it.
    crypto.scrypt(passphrase.normalize('NFC'), salt, 64, {N, r: kdf.r, p: kdf.p, maxmem: 2 * 128 * N * kdf.r + 1024 * 1024}, (error, key) => (error ? reject(error) : resolve(key)))
  })
  const check = crypto.createHmac('sha256', derived.subarray(32)).update('tether backup passphrase check').digest().subarray(0, CHECK)
  return {key: derived.subarray(0, 32), check}
}

/** Encrypt `payload` under `passphrase` into the bytes of a backup file. */
export async function sealBackup(payload: Buffer, passphrase: string, kdf: ScryptParameters = DEFAULT_SCRYPT): Promise<Buffer> {
  const salt = crypto.randomBytes(SALT)
  const iv = crypto.randomBytes(IV)
  const {key, check} = await deriveKeys(passphrase, salt, kdf)
  const length = Buffer.alloc(8)
  length.writeBigUInt64BE(BigInt(payload.length))
  const unchecked = Buffer.concat([BACKUP_MAGIC, Buffer.from([BACKUP_VERSION, KDF_SCRYPT, kdf.log2N, kdf.r, kdf.p]), salt, iv, check, length])
  const header = Buffer.concat([unchecked, headerCheck(unchecked)])
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(header)
  const body = Buffer.concat([header, cipher.update(payload), cipher.final(), cipher.getAuthTag()])
  return Buffer.concat([body, sha256(body)])
}

export interface BackupHeader {
  version: number
  kdf: ScryptParameters & {name: 'scrypt'}
}

interface ParsedHeader extends BackupHeader {
  raw: Buffer
  kdfId: number
  salt: Buffer
  iv: Buffer
  check: Buffer
  ciphertextLength: number
  /** The whole file's length this header announces. */
  fileLength: number
}

function parseHeader(bytes: Buffer): ParsedHeader {
  const raw = bytes.subarray(0, HEADER)
  let at = VERSION_AT
  const take = (n: number) => raw.subarray(at, (at += n))
  const [version, kdfId, log2N, r, p] = take(5)
  const salt = take(SALT)
  const iv = take(IV)
  const check = take(CHECK)
  const ciphertextLength = Number(take(8).readBigUInt64BE())
  return {raw, version, kdfId, kdf: {name: 'scrypt', log2N, r, p}, salt, iv, check, ciphertextLength, fileLength: HEADER + ciphertextLength + TAG + DIGEST}
}

/** Whether the header checks out as version 1 once magic and version are put back: a flipped byte there, not another format. */
function isV1WithDamagedPrefix(bytes: Buffer): boolean {
  if (bytes.length < HEADER) return false
  const unchecked = Buffer.concat([BACKUP_MAGIC, Buffer.from([BACKUP_VERSION]), bytes.subarray(VERSION_AT + 1, HEADER - HEADER_CHECK)])
  return headerCheck(unchecked).equals(bytes.subarray(HEADER - HEADER_CHECK, HEADER))
}

export type BackupFailure = 'backup-not-tether' | 'backup-truncated' | 'backup-tampered' | 'backup-version-too-new' | 'backup-kdf-too-costly' | 'backup-wrong-passphrase'

/** Why a file cannot be opened, from its bytes alone (no passphrase needed), or undefined if it is sound. */
export function inspectBackup(bytes: Buffer): {failure?: BackupFailure; header?: ParsedHeader; detail?: string} {
  if (bytes.length < BACKUP_MAGIC.length) return BACKUP_MAGIC.subarray(0, bytes.length).equals(bytes) ? {failure: 'backup-truncated', detail: bytes.length === 0 ? 'it is empty' : `it ends after ${bytes.length} bytes`} : {failure: 'backup-not-tether'}
  if (!bytes.subarray(0, VERSION_AT).equals(BACKUP_MAGIC)) return isV1WithDamagedPrefix(bytes) ? {failure: 'backup-tampered', detail: 'its first bytes were changed'} : {failure: 'backup-not-tether'}
  if (bytes.length <= VERSION_AT) return {failure: 'backup-truncated', detail: 'it ends after the format name'}
  const version = bytes[VERSION_AT]
  const intact = bytes.length > VERSION_AT + DIGEST && sha256(bytes.subarray(0, -DIGEST)).equals(bytes.subarray(-DIGEST))
  if (version !== BACKUP_VERSION) {
    if (!intact && isV1WithDamagedPrefix(bytes)) return {failure: 'backup-tampered', detail: 'its version byte was changed'}
    return version > BACKUP_VERSION ? {failure: 'backup-version-too-new', detail: `format version ${version}`} : {failure: 'backup-tampered', detail: `unknown format version ${version}`}
  }

  if (bytes.length < HEADER) return {failure: 'backup-truncated', detail: `it ends inside its header (${bytes.length} of ${HEADER} bytes)`}
  const header = parseHeader(bytes)
  const headerSound = headerCheck(header.raw.subarray(0, -HEADER_CHECK)).equals(header.raw.subarray(-HEADER_CHECK))
  if (!headerSound) return {failure: 'backup-tampered', detail: 'its header does not match its check'}
  if (bytes.length < header.fileLength) return {failure: 'backup-truncated', detail: `it has ${bytes.length} of ${header.fileLength} bytes`}
  if (!intact) return {failure: 'backup-tampered', detail: 'its checksum does not match its content'}
  if (bytes.length !== header.fileLength) return {failure: 'backup-tampered', detail: `it has ${bytes.length} bytes, its header says ${header.fileLength}`}
  if (header.kdfId !== KDF_SCRYPT) return {failure: 'backup-tampered', detail: `unknown key derivation ${header.kdfId}`}
  if (header.kdf.log2N > 24 || header.kdf.r < 1 || header.kdf.p < 1 || header.kdf.p > 16 || 128 * 2 ** header.kdf.log2N * header.kdf.r > MAX_SCRYPT_MEMORY) {
    return {failure: 'backup-kdf-too-costly', header, detail: `scrypt N=2^${header.kdf.log2N}, r=${header.kdf.r}, p=${header.kdf.p}`}
  }

  return {header}
}

/** Decrypt a backup file's bytes; every refusal is a BackupError naming what is wrong. */
export async function openBackup(bytes: Buffer, passphrase: string, what: string): Promise<{payload: Buffer; header: BackupHeader}> {
  const inspected = inspectBackup(bytes)
  if (inspected.failure) throw backupError(inspected.failure, what, inspected.detail)
  const header = inspected.header!
  const {key, check} = await deriveKeys(passphrase, header.salt, header.kdf)
  if (!crypto.timingSafeEqual(check, header.check)) throw backupError('backup-wrong-passphrase', what)
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, header.iv)
  decipher.setAAD(header.raw)
  decipher.setAuthTag(bytes.subarray(-DIGEST - TAG, -DIGEST))
  try {
    const payload = Buffer.concat([decipher.update(bytes.subarray(HEADER, -DIGEST - TAG)), decipher.final()])
    return {payload, header: {version: header.version, kdf: header.kdf}}
  } catch (error) {
    throw backupError('backup-tampered', what, 'it does not authenticate under its key (the content was forged or altered)', error)
  }
}

const FAILURES: Record<BackupFailure, {failure: TetherError['failure']; message: (what: string) => string; hint: string}> = {
  'backup-not-tether': {failure: 'usage', message: (what) => `${what} is not a tether backup`, hint: 'pass a file written by `tether manager backup`'},
  'backup-truncated': {failure: 'usage', message: (what) => `${what} is truncated`, hint: 'copy the backup again from where it is kept (compare its size with the original), or use an older backup'},
  'backup-tampered': {failure: 'trust', message: (what) => `${what} is damaged or was tampered with`, hint: 'do not use it; take another copy of the backup, or use an older backup'},
  'backup-version-too-new': {failure: 'refused', message: (what) => `${what} was written by a newer tether`, hint: 'restore it with the tether version that wrote it, or a newer one'},
  'backup-kdf-too-costly': {failure: 'refused', message: (what) => `${what} asks for a key derivation too costly to run`, hint: 'this is not a backup tether wrote; use another copy'},
  'backup-wrong-passphrase': {failure: 'refused', message: (what) => `the passphrase does not open ${what}`, hint: 'check the passphrase (or the file given to --passphrase-file); it is the one given when the backup was made'},
}

export function backupError(code: BackupFailure, what: string, detail?: string, cause?: unknown): TetherError {
  const {failure, message, hint} = FAILURES[code]
  return new TetherError(failure, code, detail ? `${message(what)}: ${detail}` : message(what), {hint: `${hint}; nothing was written`, cause})
}
