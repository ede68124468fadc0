import crypto from 'node:crypto'

import {beforeAll, describe, expect, it} from 'vitest'

import {TetherError} from '../src/errors.js'
import {packArchive, unpackArchive} from '../src/manager/backup-archive.js'
import {BACKUP_MAGIC, DEFAULT_SCRYPT, inspectBackup, openBackup, sealBackup} from '../src/manager/backup-file.js'

/**
 * The backup file format on its own: what each kind of damage is called. The real key derivation
 * (scrypt) runs with small parameters here so that every byte of a file can be flipped in turn;
 * test/backup.test.ts uses the real parameters through the CLI.
 */

const CHEAP = {log2N: 10, r: 8, p: 1}
const PASSPHRASE = 'correct horse battery staple'
const HEADER = 79
const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest()

/** The same bytes with the trailing SHA-256 recomputed (a forger who knows the format, not the key). */
function resealChecksum(bytes: Buffer): Buffer {
  const body = bytes.subarray(0, -32)
  return Buffer.concat([body, sha256(body)])
}

/** The same bytes with the header check and trailing SHA-256 recomputed after editing the header. */
function withHeader(bytes: Buffer, edit: (header: Buffer) => void): Buffer {
  const copy = Buffer.from(bytes)
  edit(copy)
  sha256(copy.subarray(0, HEADER - 8)).copy(copy, HEADER - 8, 0, 8)
  return resealChecksum(copy)
}

async function refusal(bytes: Buffer, passphrase = PASSPHRASE): Promise<TetherError> {
  try {
    await openBackup(bytes, passphrase, 'b.tbk')
  } catch (error) {
    if (error instanceof TetherError) return error
    throw error
  }

  throw new Error('opened')
}

describe('backup file format', () => {
  const payload = Buffer.from(`${'registry bytes '.repeat(60)}\u0000\u00ff`, 'latin1')
  let sealed: Buffer
  beforeAll(async () => {
    sealed = await sealBackup(payload, PASSPHRASE, CHEAP)
  })

  it('opens with the passphrase it was sealed with, and the header records the key derivation', async () => {
    expect(sealed.subarray(0, BACKUP_MAGIC.length).toString()).toBe('tether-backup\n')
    expect(sealed.length).toBe(HEADER + payload.length + 16 + 32)
    const opened = await openBackup(sealed, PASSPHRASE, 'b.tbk')
    expect(opened.payload.equals(payload)).toBe(true)
    expect(opened.header).toEqual({version: 1, kdf: {name: 'scrypt', ...CHEAP}})
    // Nothing of the payload shows through, and two seals of the same payload share no salt, IV or ciphertext.
    expect(sealed.includes(Buffer.from('registry bytes'))).toBe(false)
    const again = await sealBackup(payload, PASSPHRASE, CHEAP)
    expect(again.subarray(19, 47).equals(sealed.subarray(19, 47))).toBe(false)
    expect(DEFAULT_SCRYPT).toEqual({log2N: 16, r: 8, p: 1})
  })

  it('the passphrase is compared after Unicode NFC normalization', async () => {
    const composed = await sealBackup(payload, 'caf\u00e9 au lait', CHEAP)
    expect((await openBackup(composed, 'cafe\u0301 au lait', 'b.tbk')).payload.equals(payload)).toBe(true)
  })

  it('a wrong passphrase is named as such', async () => {
    const error = await refusal(sealed, 'correct horse battery stapler')
    expect(error.code).toBe('backup-wrong-passphrase')
    expect(error.exitCode).toBe(4)
    expect(error.toLine()).toBe('the passphrase does not open b.tbk; check the passphrase (or the file given to --passphrase-file); it is the one given when the backup was made; nothing was written')
  })

  it('every single flipped byte, anywhere in the file, is "tampered", before any key is derived', () => {
    for (let at = 0; at < sealed.length; at++) {
      for (const mask of [0x01, 0x80]) {
        const damaged = Buffer.from(sealed)
        damaged[at] ^= mask
        expect(inspectBackup(damaged).failure, `byte ${at} ^ ${mask}`).toBe('backup-tampered')
      }
    }
  })

  it('every truncation is "truncated", and extra bytes at the end are "tampered"', () => {
    for (let length = 0; length < sealed.length; length++) {
      expect(inspectBackup(sealed.subarray(0, length)).failure, `first ${length} bytes`).toBe('backup-truncated')
    }

    expect(inspectBackup(Buffer.concat([sealed, Buffer.from([0])])).failure).toBe('backup-tampered')
  })

  it('a forged ciphertext with its checksum recomputed fails the GCM tag: "tampered"', async () => {
    const forged = Buffer.from(sealed)
    forged[HEADER + 5] ^= 0x20
    const error = await refusal(resealChecksum(forged))
    expect(error.code).toBe('backup-tampered')
    expect(error.exitCode).toBe(5)
    expect(error.message).toContain('does not authenticate under its key')
  })

  it('a forged IV with both checks recomputed fails the GCM tag: the header is authenticated', async () => {
    const error = await refusal(withHeader(sealed, (h) => (h[40] ^= 1)))
    expect(error.code).toBe('backup-tampered')
    expect(error.message).toContain('does not authenticate')
  })

  it('files that are not tether backups are named as such', () => {
    for (const other of [Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'), crypto.randomBytes(4096), Buffer.from('SQLite format 3\u0000'), Buffer.from('x')]) {
      expect(inspectBackup(other).failure).toBe('backup-not-tether')
    }
  })

  it('a newer format version is named as such, also when damaged; version 0 and unknown KDFs are refused', async () => {
    const newer = Buffer.from(sealed)
    newer[14] = 2
    expect(inspectBackup(resealChecksum(newer)).failure).toBe('backup-version-too-new')
    const error = await refusal(resealChecksum(newer))
    expect(error.code).toBe('backup-version-too-new')
    expect(error.toLine()).toBe('b.tbk was written by a newer tether: format version 2; restore it with the tether version that wrote it, or a newer one; nothing was written')
    // A newer file cut short (its layout unknown to us) is still reported as newer, not as ours damaged.
    const newerCut = Buffer.concat([BACKUP_MAGIC, Buffer.from([3]), crypto.randomBytes(40)])
    expect(inspectBackup(newerCut).failure).toBe('backup-version-too-new')
    const zero = Buffer.from(sealed)
    zero[14] = 0
    expect(inspectBackup(resealChecksum(zero)).failure).toBe('backup-tampered')
    expect(inspectBackup(withHeader(sealed, (h) => (h[15] = 2))).failure).toBe('backup-tampered')
  })

  it('key derivation parameters that would exhaust memory are refused before deriving', async () => {
    const costly = withHeader(sealed, (h) => (h[16] = 30))
    const error = await refusal(costly)
    expect(error.code).toBe('backup-kdf-too-costly')
    expect(error.message).toContain('scrypt N=2^30, r=8, p=1')
  })
})

describe('backup archive', () => {
  const identity = {createdAt: '2026-01-01T00:00:00.000Z', managerGuid: 'G', tenantId: 'T', schemaVersion: 4, computers: 0}
  const files = [{name: 'ca.key', mode: 0o600, data: Buffer.from('key')}, {name: 'tether.db', mode: 0o600, data: Buffer.alloc(3000, 7)}]

  it('round-trips the files and their modes, with a manifest of sizes and SHA-256s', () => {
    const {manifest, files: out} = unpackArchive(packArchive(identity, files), 'b.tbk', ['ca.key', 'tether.db'])
    expect(manifest).toMatchObject({format: 'tether-manager-backup', ...identity})
    expect(manifest.files.map((f) => [f.name, f.size, f.sha256])).toEqual(files.map((f) => [f.name, f.data.length, sha256(f.data).toString('hex')]))
    expect(out.map((f) => [f.name, f.mode, f.data.toString('hex')])).toEqual(files.map((f) => [f.name, f.mode, f.data.toString('hex')]))
  })

  it('refuses names that leave the home, a missing required file, and bytes that do not match', () => {
    const code = (payload: Buffer, required: string[] = []) => {
      try {
        unpackArchive(payload, 'b.tbk', required)
        return 'opened'
      } catch (error) {
        return `${(error as TetherError).code}: ${(error as TetherError).message}`
      }
    }

    expect(code(packArchive(identity, [{name: '../ca.key', mode: 0o600, data: Buffer.from('x')}]))).toBe('backup-tampered: b.tbk is damaged or was tampered with: it names a file "../ca.key"')
    expect(code(packArchive(identity, [{name: '.hidden', mode: 0o600, data: Buffer.from('x')}]))).toContain('it names a file ".hidden"')
    expect(code(packArchive(identity, files), ['ca.key', 'manager.key'])).toBe('backup-tampered: b.tbk is damaged or was tampered with: it holds no manager.key')
    const payload = packArchive(identity, files)
    payload[payload.length - 1] ^= 1
    expect(code(payload)).toContain('tether.db does not match its SHA-256')
    expect(code(Buffer.concat([packArchive(identity, files), Buffer.from('x')]))).toContain('bytes no file accounts for')
  })
})
