import {TetherError} from '../errors.js'

/**
 * An enrolment token as printed: one word, `tt1.` + the secret + `.` + the CA's SHA-256
 * fingerprint, both base64url. The agent pins the CA from it before it sends anything (as
 * `step ca bootstrap --fingerprint` does); the manager checks the secret.
 */

export const TOKEN_PREFIX = 'tt1.'

export interface ParsedToken {
  secret: string
  /** The CA's SHA-256 fingerprint, colon hex (as `openssl x509 -fingerprint` prints it). */
  caSha256: string
}

const BASE64URL = /^[A-Za-z0-9_-]+$/

export function isEnrolmentToken(text: string): boolean {
  return text.startsWith(TOKEN_PREFIX)
}

/** Split a `tt1.` token; anything malformed is a usage error naming the form. */
export function parseEnrolmentToken(text: string): ParsedToken {
  const [, secret, ca] = text.split('.')
  const fingerprint = ca && BASE64URL.test(ca) ? Buffer.from(ca, 'base64url') : undefined
  if (text.split('.').length !== 3 || !secret || !BASE64URL.test(secret) || fingerprint?.length !== 32) {
    throw new TetherError('usage', 'bad-token-format', 'the enrolment token is malformed', {hint: 'pass the token exactly as `tether manager tokens create` printed it (tt1.SECRET.FINGERPRINT)'})
  }

  return {secret, caSha256: fingerprint.toString('hex').toUpperCase().match(/../g)!.join(':')}
}
