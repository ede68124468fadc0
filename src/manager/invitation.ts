import crypto from 'node:crypto'
import path from 'node:path'

import {TetherError, errnoCode} from '../errors.js'
import {fingerprint} from '../pki/certificate.js'
import {PRIVATE_FILE_MODE, fileMode, readIfExists, writeFileAtomic} from '../platform/fsutil.js'
import type {ManagerContext} from './context.js'
import {secretDigest} from './enrolment.js'
import {readKek, readNodeIdentity} from './node-home.js'
import type {ManagerHome} from './home.js'
import type {Invitation, InvitationRefusal} from './store/store.js'

/**
 * A one-time invitation for a new manager node (`tether manager nodes invite`): a 0600 file with
 * what the new node cannot get from the database itself. The key-encryption key (the database
 * holds the CA key sealed under it), the CA certificate, and a secret whose SHA-256 the store
 * keeps and consumes when the node joins, until it expires. The database URL goes without its
 * password: the invitation travels between machines, and each node's database credentials are
 * provisioned for that node (given to join with --database or $TETHER_DATABASE_URL).
 */

export const INVITATION_KIND = 'tether-manager-node-invitation'
export const DEFAULT_INVITATION_TTL_MS = 60 * 60_000

export interface InvitationFile {
  kind: typeof INVITATION_KIND
  version: 1
  id: string
  managerGuid: string
  /** The installation's database, without a password. */
  database: string
  expiresAt: string
  caCertificate: string
  caSha256: string
  /** base64 */
  kek: string
  /** base64url; only its SHA-256 is in the database. */
  secret: string
}

export async function createInvitation(ctx: ManagerContext, home: ManagerHome, options: {output: string; ttlMs: number}): Promise<{file: string; invitation: Invitation; database: string}> {
  const {credentials, store} = ctx
  const now = ctx.now()
  const node = readNodeIdentity(home.dir)
  const secret = crypto.randomBytes(32).toString('base64url')
  const invitation: Invitation = {
    id: crypto.randomBytes(4).toString('hex'),
    secretSha256: secretDigest(secret),
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + options.ttlMs).toISOString(),
    createdBy: node.name,
    usedAt: null,
    usedBy: null,
  }
  const content: InvitationFile = {
    kind: INVITATION_KIND,
    version: 1,
    id: invitation.id,
    managerGuid: node.managerGuid,
    database: store.location,
    expiresAt: invitation.expiresAt,
    caCertificate: credentials.caCertPem,
    caSha256: fingerprint(credentials.caCert),
    kek: readKek(home.dir).toString('base64'),
    secret,
  }
  const file = path.resolve(options.output)
  try {
    writeFileAtomic(file, `${JSON.stringify(content, null, 2)}\n`, PRIVATE_FILE_MODE)
  } catch (error) {
    throw new TetherError('usage', 'invitation-unwritable', `cannot write ${file} (${errnoCode(error) ?? (error as Error).message})`, {hint: 'choose a directory that exists and that you may write to'})
  }

  // Recorded after the file is written: a file that could not be written leaves no live invitation.
  await store.invitations.create(invitation)
  return {file, invitation, database: store.location}
}

/** Read and check an invitation file: private, whole, of this format. */
export function readInvitation(file: string): InvitationFile {
  const resolved = path.resolve(file)
  const text = readIfExists(resolved)?.toString('utf8')
  if (text === undefined) throw new TetherError('notFound', 'invitation-missing', `no invitation at ${resolved}`, {hint: 'make one on a node of the installation: tether manager nodes invite --output FILE'})
  const mode = fileMode(resolved)
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new TetherError('trust', 'invitation-not-private', `${resolved} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): it holds the installation's key-encryption key`, {
      hint: `make it private (chmod 600 ${resolved}), and if others could read it, make a new invitation: this one may have been copied`,
    })
  }

  let parsed: Partial<InvitationFile>
  try {
    parsed = JSON.parse(text) as Partial<InvitationFile>
  } catch {
    parsed = {}
  }

  const fields = ['id', 'managerGuid', 'database', 'expiresAt', 'caCertificate', 'caSha256', 'kek', 'secret'] as const
  if (parsed.kind !== INVITATION_KIND || parsed.version !== 1 || fields.some((field) => typeof parsed[field] !== 'string')) {
    throw new TetherError('usage', 'not-an-invitation', `${resolved} is not a tether manager node invitation (or it is damaged)`, {hint: 'pass the file `tether manager nodes invite --output FILE` wrote'})
  }

  return parsed as InvitationFile
}

export function invitationRefused(refusal: InvitationRefusal, invitation: InvitationFile): TetherError {
  const why = {unknown: 'is not known to the installation\'s database', expired: `expired at ${invitation.expiresAt}`, used: 'was used already (an invitation adds one node)'}[refusal]
  return new TetherError('refused', `invitation-${refusal}`, `invitation ${invitation.id} ${why}`, {hint: 'make a new one on a node of the installation: tether manager nodes invite --output FILE'})
}

