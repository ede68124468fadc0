import {TetherError} from '../errors.js'

/**
 * Secrets kept in a shared database under a key-encryption key (KEK) the database never holds:
 * AES-256-GCM with a fresh 96-bit IV per value, the purpose as additional data (so a sealed value
 * opens only as what it was sealed for), and the tag checked before anything is returned.
 */

export const KEK_BYTES = 32
const PREFIX = 'tether-sealed-v1.'
const IV_BYTES = 12
const TAG_BYTES = 16

// Not `import crypto`, which evaluates its lazy parts too (webcrypto): every manager command loads
// this module, through the node home, for KEK_BYTES alone (dsm_c's cold start).
const crypto = () => process.getBuiltinModule('node:crypto')

export function newKek(): Buffer {
  return crypto().randomBytes(KEK_BYTES)
}

export function seal(kek: Buffer, plaintext: string, purpose: string): string {
  const iv = crypto().randomBytes(IV_BYTES)
  const cipher = crypto().createCipheriv('aes-256-gcm', kek, iv)
  cipher.setAAD(Buffer.from(purpose, 'utf8'))
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
}

/** Open a sealed value; a wrong KEK, another purpose or any changed byte is refused, never half-read. */
export function unseal(kek: Buffer, sealed: string, purpose: string, what: string): string {
  const refused = (why: string) =>
    new TetherError('trust', 'sealed-secret-refused', `${what} in the database cannot be opened: ${why}`, {
      hint: "this node's kek.key must be the installation's (it came in the invitation); a node of another installation, or a database restored from elsewhere, does not match",
    })
  if (!sealed.startsWith(PREFIX)) throw refused('it is not a sealed value of this version')
  const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url')
  if (raw.length < IV_BYTES + TAG_BYTES) throw refused('it is truncated')
  try {
    const decipher = crypto().createDecipheriv('aes-256-gcm', kek, raw.subarray(0, IV_BYTES))
    decipher.setAAD(Buffer.from(purpose, 'utf8'))
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    throw refused('the key-encryption key does not open it (or it was altered)')
  }
}
