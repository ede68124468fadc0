import crypto from 'node:crypto'

import {TetherError} from '../errors.js'
import {ParsedToken, TOKEN_PREFIX} from '../protocol/enrolment-token.js'
import type {StoreContext} from './context.js'
import type {EnrolmentToken, TokenRefusal} from './store/store.js'

/**
 * Enrolment tokens for agent-initiated activation, beyond the classic shared secret (the format is
 * protocol/enrolment-token.ts's). The manager keeps only the secret's SHA-256.
 */

export function secretDigest(secret: string): string {
  return crypto.createHash('sha256').update(secret).digest('hex')
}

/** Equal in constant time (digests of both, so lengths never leak either). */
export function sameSecret(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest()
  const b = crypto.createHash('sha256').update(expected).digest()
  return crypto.timingSafeEqual(a, b)
}

export interface TokenRequest {
  ttlMs?: number
  uses?: number
  policy?: string
  group?: string
}

/** Make a token for the CA with this fingerprint; the returned text is shown once and never stored. */
export async function createToken(ctx: StoreContext, caSha256: string, request: TokenRequest): Promise<{text: string; token: EnrolmentToken}> {
  const secret = crypto.randomBytes(24).toString('base64url')
  const now = ctx.now()
  const token: EnrolmentToken = {
    id: crypto.randomBytes(4).toString('hex'),
    secretSha256: secretDigest(secret),
    createdAt: now.toISOString(),
    expiresAt: request.ttlMs === undefined ? null : new Date(now.getTime() + request.ttlMs).toISOString(),
    usesAllowed: request.uses ?? null,
    uses: 0,
    policy: request.policy ?? null,
    group: request.group ?? null,
    revokedAt: null,
  }
  await ctx.store.tokens.create(token)
  const fingerprint = Buffer.from(caSha256.replaceAll(':', ''), 'hex').toString('base64url')
  return {text: `${TOKEN_PREFIX}${secret}.${fingerprint}`, token}
}

const REFUSALS: Record<TokenRefusal, string> = {
  unknown: 'the enrolment token is not one of this manager\'s',
  revoked: 'the enrolment token was revoked',
  expired: 'the enrolment token has expired',
  'used-up': 'the enrolment token has been used as many times as it allows',
}

/** Count one use of a presented `tt1.` token; refused with why. */
export async function useToken(ctx: StoreContext, parsed: ParsedToken, trustedCaSha256: string[]): Promise<EnrolmentToken> {
  // Any CA the manager trusts: a token made before a CA rotation works until the old CA is retired.
  if (!trustedCaSha256.some((caSha256) => sameSecret(parsed.caSha256, caSha256))) {
    throw new TetherError('trust', 'token-for-other-ca', 'the enrolment token was made for another CA (another manager installation)', {hint: 'use a token from `tether manager tokens create` on this manager'})
  }

  const result = await ctx.store.tokens.use(secretDigest(parsed.secret), ctx.now())
  if ('refused' in result) throw new TetherError('trust', `token-${result.refused}`, REFUSALS[result.refused], {hint: 'make a new one: tether manager tokens create'})
  return result.token
}
