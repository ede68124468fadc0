import {fingerprint, issuedBy, subjectAltNames, subjectAttribute} from '../pki/certificate.js'
import {LEAF_KEY_BITS, generateRsaKeyPair} from '../pki/keys.js'
import {hasManagerRole} from '../pki/roles.js'
import type {ManagerContext} from './context.js'
import type {ManagerCredentials} from './credentials.js'
import type {ManagerHome} from './home.js'
import {replaceManagerIdentity} from './manager-identity.js'
import {issuedRecord} from './node-certificate.js'
import {readNodeIdentity} from './node-home.js'

/**
 * The manager's own certificate, kept usable while it runs: re-issued from the same CA before it
 * expires (past two thirds of its lifetime), and at once when it lacks the manager role (a home made
 * by an earlier tether: agents of this version refuse such a certificate). Agents notice nothing:
 * they trust the role and the CA, not this certificate. The previous one is kept for bound agents.
 */

export const MANAGER_RENEW_AFTER = 2 / 3

export function managerCertificateDue(credentials: ManagerCredentials, now: Date): 'no-manager-role' | 'ca-rotation' | 'renewal' | undefined {
  const cert = credentials.managerCert
  if (!hasManagerRole(cert)) return 'no-manager-role'
  // A CA rotation was activated (or rolled back): the manager's own certificate follows the issuing CA.
  if (credentials.rotation && !issuedBy(cert, credentials.caCert)) return 'ca-rotation'
  const from = Date.parse(cert.validFrom)
  const to = Date.parse(cert.validTo)
  return now.getTime() >= from + (to - from) * MANAGER_RENEW_AFTER ? 'renewal' : undefined
}

/** Re-issue the manager certificate when due; the new credentials, or undefined when nothing was due. */
export async function renewManagerCertificate(home: ManagerHome, ctx: ManagerContext): Promise<ManagerCredentials | undefined> {
  const reason = managerCertificateDue(ctx.credentials, ctx.now())
  if (!reason) return undefined
  // Lazy: pki/x509 loads only when a certificate is issued.
  const {issueCertificate, VALIDITY_DAYS} = await import('../pki/x509.js')
  const {credentials} = ctx
  const old = credentials.managerCert
  const rdn = (key: string) => subjectAttribute(old, key)
  const keys = await generateRsaKeyPair(LEAF_KEY_BITS)
  const pem = await issueCertificate({
    profile: 'manager',
    subject: {commonName: rdn('CN') ?? 'tether manager', organizationalUnit: rdn('OU') ?? 'manager', organization: rdn('O') ?? 'tether'},
    publicKeyPem: keys.publicKeyPem,
    issuerCertPem: credentials.caCertPem,
    signerKeyPem: credentials.caKeyPem,
    validityDays: VALIDITY_DAYS.manager,
    notBefore: new Date(ctx.now().getTime() - 60 * 60_000),
    altNames: subjectAltNames(old).map((name) => name.replace(/^(DNS|IP Address):/, '')),
  })
  replaceManagerIdentity(home.dir, keys.privateKeyPem, pem)
  // A node's certificate is the installation's business too: recorded, so removing the node revokes it.
  if (home.isNode()) await ctx.store.nodes.renewCertificate(readNodeIdentity(home.dir).name, issuedRecord(pem), ctx.now())
  const renewed = await home.credentials(ctx.store)
  ctx.log.info('manager-certificate-renewed', {reason, previousSha256: fingerprint(old), sha256: fingerprint(renewed.managerCert), notAfter: new Date(renewed.managerCert.validTo).toISOString()})
  return renewed
}
