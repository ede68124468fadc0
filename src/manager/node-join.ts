import {TetherError} from '../errors.js'
import {fingerprint, parseCertificate} from '../pki/certificate.js'
import {keyMatchesCertificate, loadPrivateKey} from '../pki/keys.js'
import {PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, writeFileAtomic} from '../platform/fsutil.js'
import {secretDigest} from './enrolment.js'
import {ManagerHome, stageHome} from './home.js'
import {openSecrets} from './installation-secrets.js'
import {InvitationFile, invitationRefused, readInvitation} from './invitation.js'
import {issueManagerIdentity} from './node-certificate.js'
import {DATABASE_URL_ENV, writeNodeFiles} from './node-home.js'
import {defaultNodeName} from './node-init.js'
import {PostgresManagerStore} from './store/postgres.js'

/**
 * `tether manager join --invite FILE`: a new node of an installation on PostgreSQL. The invitation
 * is checked against the database (same installation, unused, unexpired), its KEK must open the
 * sealed CA key, the node gets its own key and a manager-role certificate from that CA, and the
 * invitation is consumed in the same step as the node is added: one invitation, one node.
 */

export interface JoinOptions {
  invitation: string
  /** The database URL: --database, else $TETHER_DATABASE_URL, else the invitation's (no password: PGPASSWORD or ~/.pgpass). */
  database?: string
  hostnames: string[]
  name?: string
}

export async function joinInstallation(dir: string, options: JoinOptions): Promise<ManagerHome> {
  const invitation = readInvitation(options.invitation)
  if (Date.parse(invitation.expiresAt) <= Date.now()) throw invitationRefused('expired', invitation)
  const database = options.database ?? process.env[DATABASE_URL_ENV] ?? invitation.database
  const kek = Buffer.from(invitation.kek, 'base64')
  const ca = parseCertificate(invitation.caCertificate, 'the CA certificate in the invitation')
  if (fingerprint(ca) !== invitation.caSha256) throw new TetherError('trust', 'invitation-damaged', `invitation ${invitation.id} names a CA other than the one it carries`, {hint: 'make a new invitation'})
  const name = options.name ?? defaultNodeName()
  return stageHome(dir, false, async (staging) => {
    const store = await PostgresManagerStore.open(database)
    try {
      const {managerGuid} = await store.meta.identity()
      if (managerGuid !== invitation.managerGuid) {
        throw new TetherError('refused', 'wrong-installation', `the database ${store.location} is ${managerGuid ? `installation ${managerGuid}` : 'not set up'}, not installation ${invitation.managerGuid} the invitation is for`, {
          hint: `join with --database naming that installation's database (the invitation was made for ${invitation.database})`,
        })
      }

      const secretSha256 = secretDigest(invitation.secret)
      const checked = await store.invitations.check(secretSha256, new Date())
      if ('refused' in checked) throw invitationRefused(checked.refused, invitation)
      const caKeyPem = await openCaKey(store, kek, invitation)
      const node = await issueManagerIdentity({certPem: invitation.caCertificate, keyPem: caKeyPem}, {commonName: options.hostnames[0]}, options.hostnames)
      // Staged before the node is recorded: a failure here leaves the invitation unused.
      writeFileAtomic(staging.file('caCert'), invitation.caCertificate, PUBLIC_FILE_MODE)
      writeFileAtomic(staging.file('managerKey'), node.keyPem, PRIVATE_FILE_MODE)
      writeFileAtomic(staging.file('managerCert'), node.certPem, PUBLIC_FILE_MODE)
      writeNodeFiles(staging.dir, {kek, databaseUrl: options.database ?? (process.env[DATABASE_URL_ENV] ? undefined : invitation.database), identity: {name, managerGuid}})
      const added = await store.nodes.add({name, hostnames: options.hostnames, certificate: node.record}, new Date(), {invitation: secretSha256})
      if ('refused' in added) {
        if (added.refused === 'name-taken') {
          throw new TetherError('refused', 'node-name-taken', `a node named ${name} is already in the installation`, {hint: 'choose another name with --name (see `tether manager nodes list`); the invitation is still unused'})
        }

        throw invitationRefused(added.refused, invitation)
      }
    } finally {
      await store.close()
    }
  })
}

/** The invitation's KEK must open the installation's CA key, and that key must be its CA's. */
async function openCaKey(store: PostgresManagerStore, kek: Buffer, invitation: InvitationFile): Promise<string> {
  const {caKeyPem} = await openSecrets(store, kek, invitation.managerGuid)
  if (!keyMatchesCertificate(loadPrivateKey(caKeyPem, 'the CA key in the database'), parseCertificate(invitation.caCertificate, 'CA'))) {
    throw new TetherError('trust', 'invitation-damaged', `the CA key in the database does not belong to the CA certificate of invitation ${invitation.id}`, {hint: 'make a new invitation on a node of this installation'})
  }

  return caKeyPem
}
