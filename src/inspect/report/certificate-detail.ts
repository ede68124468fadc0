import type crypto from 'node:crypto'

import {fingerprint, oneLineName, subjectAltNames, validityProblem} from '../../pki/certificate.js'
import type {CertificateDetail} from '../types.js'
import {signatureAlgorithm} from '../x509-fields.js'

/** One certificate of the peer's chain, as the report shows it. */

function describeKey(cert: crypto.X509Certificate): string {
  const key = cert.publicKey
  const details = key.asymmetricKeyDetails ?? {}
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      return `RSA ${details.modulusLength ?? '?'}`
    }

    case 'ec': {
      return `EC ${details.namedCurve ?? '?'}`
    }

    default: {
      return String(key.asymmetricKeyType ?? 'unknown').toUpperCase()
    }
  }
}

/** `sent`: the certificates the peer sent, when the records could be read (to tell them from ones our trust store completed). */
export function certificateDetail(cert: crypto.X509Certificate, depth: number, now: Date, sent: Buffer[] | undefined): CertificateDetail {
  const notAfter = new Date(cert.validTo)
  return {
    depth,
    subject: oneLineName(cert.subject),
    issuer: oneLineName(cert.issuer),
    subjectAltNames: subjectAltNames(cert),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000),
    validity: validityProblem(cert, now) ?? 'valid',
    key: describeKey(cert),
    signatureAlgorithm: signatureAlgorithm(cert.raw),
    serial: cert.serialNumber.toUpperCase(),
    sha256: fingerprint(cert),
    isCA: cert.ca,
    selfSigned: cert.checkIssued(cert) && cert.verify(cert.publicKey),
    sentByPeer: sent ? sent.some((der) => der.equals(cert.raw)) : undefined,
  }
}
