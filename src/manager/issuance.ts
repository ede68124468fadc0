import type crypto from 'node:crypto'

import {parseCertificate, summarize} from '../pki/certificate.js'
import type {ManagerContext} from './context.js'
import {getSettings} from './settings.js'
import {parseDuration} from '../platform/duration.js'

/** Issuing agent certificates: the CA signs a CSR the agent made (its key never leaves it). */

export interface IssuedAgentCertificate {
  pem: string
  certificate: crypto.X509Certificate
  sha256: string
  serial: string
  notBefore: string
  notAfter: string
}

/** Backdated by a tenth of the lifetime, at most an hour: a peer whose clock runs a little behind accepts it. */
const MAX_BACKDATE_MS = 60 * 60_000

/** Sign an agent's CSR with the manager CA and record the issued certificate (with `computerId`: a renewal, linked at once). */
export async function issueAgentCertificate(ctx: ManagerContext, csrPem: string, guid: string, options: {computerId?: number} = {}): Promise<IssuedAgentCertificate> {
  // Lazy: pki/x509 loads only when a certificate is issued.
  const {issueCertificate, readCsr} = await import('../pki/x509.js')
  const {credentials} = ctx
  const csr = await readCsr(csrPem)
  const lifetime = parseDuration((await getSettings(ctx.store)).agentCertificateLifetime, 'agentCertificateLifetime')
  const now = ctx.now().getTime()
  const pem = await issueCertificate({
    profile: 'agent',
    // The subject is the manager's to choose, not the agent's: the computer GUID names it.
    subject: {commonName: guid, organizationalUnit: 'agent', organization: 'tether'},
    publicKey: csr.publicKey,
    issuerCertPem: credentials.caCertPem,
    signerKey: credentials.caKey,
    validityDays: 0,
    notBefore: new Date(now - Math.min(MAX_BACKDATE_MS, lifetime / 10)),
    notAfter: new Date(now + lifetime),
    // No subject alternative names: a name the agent chose is not one the manager verified.
  })
  const certificate = parseCertificate(pem, 'issued agent certificate')
  const summary = summarize(certificate)
  await ctx.store.certificates.record({serial: summary.serial, sha256: summary.sha256, subject: summary.subject, notBefore: summary.notBefore, notAfter: summary.notAfter, pem}, ctx.now(), options)
  return {pem, certificate, sha256: summary.sha256, serial: summary.serial, notBefore: summary.notBefore, notAfter: summary.notAfter}
}

/** When a certificate valid from `notBefore` to `notAfter` is due for renewal. */
