import type crypto from 'node:crypto'

import {TetherError} from '../errors.js'
import {LruCache} from '../platform/lru-cache.js'
import {expectSingleCertificatePem} from './pem.js'

/** Reading certificates with Node's native X509Certificate: fast, and no forge at start-up. */

export interface CertificateSummary {
  subject: string
  issuer: string
  serial: string
  notBefore: string
  notAfter: string
  sha256: string
  sha1: string
  subjectAltNames: string[]
  isCA: boolean
}

/**
 * Certificates parsed from PEM text, by that text: a certificate object is a pure function of its
 * bytes and immutable, and the running agent reads the same few files again at every heartbeat
 * (its own certificate, the CA, the manager's: about 2 ms of parsing each time). Bounded: the
 * least recently used goes first.
 */
const parsedPems = new LruCache<string, crypto.X509Certificate>(64)

export function parseCertificate(pem: string | Buffer, what: string): crypto.X509Certificate {
  const kept = typeof pem === 'string' ? parsedPems.get(pem) : undefined
  if (kept) return kept
  try {
    // Loaded at the first parse: a command that reads no certificate (dsa_control -r, -m) never loads node:crypto (3 ms).
    const certificate = new (process.getBuiltinModule('node:crypto').X509Certificate)(pem)
    if (typeof pem === 'string') parsedPems.set(pem, certificate)
    return certificate
  } catch (error) {
    throw new TetherError('usage', 'invalid-certificate', `${what} is not a valid X.509 certificate`, {
      hint: 'check that the file is complete and is the certificate you meant',
      cause: error,
    })
  }
}

/** Parse an operator-supplied certificate file: strict PEM framing first, then X.509. */
export function parseCertificateFile(text: string, what: string): {pem: string; certificate: crypto.X509Certificate} {
  const pem = expectSingleCertificatePem(text, what)
  return {pem, certificate: parseCertificate(pem, what)}
}

/** Colon-separated upper-case hex, the form `openssl x509 -fingerprint` prints. */
export function colonHex(buffer: Buffer): string {
  return buffer.toString('hex').toUpperCase().match(/../g)!.join(':')
}

/**
 * The certificate's SHA-256 (or SHA-1) fingerprint, colon hex: Node's own, computed natively once
 * per certificate object and kept by it (the same text colonHex of the digest gives).
 */
export function fingerprint(certificate: crypto.X509Certificate, algorithm: 'sha1' | 'sha256' = 'sha256'): string {
  return algorithm === 'sha256' ? certificate.fingerprint256 : certificate.fingerprint
}

/** Node prints multi-valued DNs one RDN per line; fold them into one comma-separated line. */
export function oneLineName(name: string): string {
  return name.split('\n').filter(Boolean).join(', ')
}

/** The subject's common name (CN), if it has one. */
/** One attribute of the subject name (CN, O, OU...), if present. */
export function subjectAttribute(certificate: crypto.X509Certificate, key: string): string | undefined {
  return certificate.subject.split('\n').find((rdn) => rdn.startsWith(`${key}=`))?.slice(key.length + 1)
}

export function commonName(certificate: crypto.X509Certificate): string | undefined {
  return subjectAttribute(certificate, 'CN')
}

export function subjectAltNames(certificate: crypto.X509Certificate): string[] {
  return certificate.subjectAltName ? certificate.subjectAltName.split(', ').map((s) => s.trim()) : []
}

export function summarize(certificate: crypto.X509Certificate): CertificateSummary {
  return {
    subject: oneLineName(certificate.subject),
    issuer: oneLineName(certificate.issuer),
    serial: certificate.serialNumber.toUpperCase(),
    notBefore: new Date(certificate.validFrom).toISOString(),
    notAfter: new Date(certificate.validTo).toISOString(),
    sha256: fingerprint(certificate, 'sha256'),
    sha1: fingerprint(certificate, 'sha1'),
    subjectAltNames: subjectAltNames(certificate),
    isCA: certificate.ca,
  }
}

/** The point `fraction` of the way through a validity period (when a certificate is due for renewal). */
export function renewalPoint(notBefore: string | Date | number, notAfter: string | Date | number, fraction: number): Date {
  const from = new Date(notBefore).getTime()
  return new Date(from + (new Date(notAfter).getTime() - from) * fraction)
}

export function validityProblem(certificate: crypto.X509Certificate, now: Date = new Date()): 'expired' | 'not-yet-valid' | undefined {
  if (now.getTime() > new Date(certificate.validTo).getTime()) return 'expired'
  if (now.getTime() < new Date(certificate.validFrom).getTime()) return 'not-yet-valid'
  return undefined
}

/** Extended key usages by OID; undefined when the certificate has no EKU extension (any use). */
export function extendedKeyUsages(certificate: crypto.X509Certificate): string[] | undefined {
  return certificate.keyUsage
}

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

export function allowsUsage(certificate: crypto.X509Certificate, oid: string): boolean {
  const ekus = extendedKeyUsages(certificate)
  return ekus === undefined || ekus.includes(oid) || ekus.includes('2.5.29.37.0')
}

/** Signed by its own key under its own name (checkIssued would also demand keyCertSign usage). */
export function isSelfSigned(certificate: crypto.X509Certificate): boolean {
  return certificate.subject === certificate.issuer && certificate.verify(certificate.publicKey)
}

/**
 * Verdicts of issuedBy by the two certificates' SHA-256: a pure function of their DER, and each
 * heartbeat asks it again for the same agent certificate and CA (an RSA verification, ~0.06 ms).
 * Bounded: the least recently used goes first.
 */
const issuedVerdicts = new LruCache<string, boolean>(4096)

/** True when `child` carries a valid signature by `issuer` and names it as its issuer. */
export function issuedBy(child: crypto.X509Certificate, issuer: crypto.X509Certificate): boolean {
  const key = `${child.fingerprint256}/${issuer.fingerprint256}`
  const kept = issuedVerdicts.get(key)
  if (kept !== undefined) return kept
  const verdict = child.checkIssued(issuer) && child.verify(issuer.publicKey)
  issuedVerdicts.set(key, verdict)
  return verdict
}
