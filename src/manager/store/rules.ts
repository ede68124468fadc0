import type {EnrolmentToken, Invitation, InvitationRefusal, TokenRefusal} from './store.js'

/** Rules both engines apply the same way, kept out of SQL so they cannot drift apart. */

/** Why a token can no longer be used at `at`, or nothing (both engines use this one rule). */
export function tokenRefusal(token: EnrolmentToken | undefined, at: Date): TokenRefusal | undefined {
  if (!token) return 'unknown'
  if (token.revokedAt) return 'revoked'
  if (token.expiresAt && Date.parse(token.expiresAt) <= at.getTime()) return 'expired'
  if (token.usesAllowed !== null && token.uses >= token.usesAllowed) return 'used-up'
  return undefined
}

/** Why an invitation can no longer be used at `at` (expired at exactly expiresAt), or nothing. */
export function invitationRefusal(invitation: Invitation | undefined, at: Date): InvitationRefusal | undefined {
  if (!invitation) return 'unknown'
  if (invitation.usedAt) return 'used'
  if (Date.parse(invitation.expiresAt) <= at.getTime()) return 'expired'
  return undefined
}
