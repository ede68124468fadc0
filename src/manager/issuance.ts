import type crypto from 'node:crypto'

import {fingerprint, parseCertificate, summarize} from '../pki/certificate.js'
import type {ManagerContext} from './context.js'

/** Issuing agent certificates: the CA signs a CSR the agent made (its key never leaves it). */

export interface IssuedAgentCertificate {
  pem: string
  certificate: crypto.X509Certificate
  sha256: string
}

/** Sign an agent's CSR with the manager CA and record the issued certificate. */
export async function issueAgentCertificate(ctx: ManagerContext, csrPem: string, guid: string): Promise<IssuedAgentCertificate> {
  // Lazy: node-forge is needed only when a certificate is issued.
  const {issueCertificate, readCsr, VALIDITY_DAYS} = await import('../pki/x509.js')
  const {credentials} = ctx
  const csr = await readCsr(csrPem)
  const pem = await issueCertificate({
    profile: 'agent',
    // The subject is the manager's to choose, not the agent's: the computer GUID names it.
    subject: {commonName: guid, organizationalUnit: 'agent', organization: 'tether'},
    publicKeyPem: csr.publicKeyPem,
    issuerCertPem: credentials.caCertPem,
    signerKeyPem: credentials.caKeyPem,
    validityDays: VALIDITY_DAYS.agent,
    // No subject alternative names: a name the agent chose is not one the manager verified.
  })
  const certificate = parseCertificate(pem, 'issued agent certificate')
  const summary = summarize(certificate)
  await ctx.store.certificates.record({serial: summary.serial, sha256: summary.sha256, subject: summary.subject, notBefore: summary.notBefore, notAfter: summary.notAfter, pem}, ctx.now())
  return {pem, certificate, sha256: fingerprint(certificate)}
}
