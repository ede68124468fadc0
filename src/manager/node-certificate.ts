import {parseCertificate, summarize} from '../pki/certificate.js'
import {LEAF_KEY_BITS, generateRsaKeyPair} from '../pki/keys.js'
import type {IssuedCertificate} from './store/store.js'

/**
 * Manager-role certificates the installation's CA issues to itself: one per node (its TLS identity
 * towards agents), and the one binding identity every node can present to a bound agent.
 */

export interface IssuedIdentity {
  keyPem: string
  certPem: string
  /** As the store records an issued certificate. */
  record: IssuedCertificate
}

export function issuedRecord(pem: string): IssuedCertificate {
  const summary = summarize(parseCertificate(pem, 'issued certificate'))
  return {serial: summary.serial, sha256: summary.sha256, subject: summary.subject, notBefore: summary.notBefore, notAfter: summary.notAfter, pem}
}

export async function issueManagerIdentity(ca: {certPem: string; keyPem: string}, subject: {commonName: string; organization?: string}, altNames: string[], notBefore?: Date): Promise<IssuedIdentity> {
  // Lazy: pki/x509 loads only when certificates are issued.
  const {issueCertificate, VALIDITY_DAYS} = await import('../pki/x509.js')
  const keys = await generateRsaKeyPair(LEAF_KEY_BITS)
  const certPem = await issueCertificate({
    profile: 'manager',
    subject: {commonName: subject.commonName, organization: subject.organization ?? 'tether', organizationalUnit: 'manager'},
    publicKeyPem: keys.publicKeyPem,
    issuerCertPem: ca.certPem,
    signerKeyPem: ca.keyPem,
    validityDays: VALIDITY_DAYS.manager,
    altNames,
    notBefore,
  })
  return {keyPem: keys.privateKeyPem, certPem, record: issuedRecord(certPem)}
}
