import crypto from 'node:crypto'

import {TAG, children, decodeOid, octets, readNode, sequence, tlv, encodeOid} from './der.js'
import {toPem} from './pem.js'

/**
 * X.509 v2 certificate revocation lists (RFC 5280 section 5), signed by the manager CA with
 * SHA-256/RSA. Built as DER directly (forge has no CRL support) and signed natively.
 */

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11'
const OID_AKI = '2.5.29.35'
const OID_CRL_NUMBER = '2.5.29.20'
const OID_REASON = '2.5.29.21'
const OID_SKI = '2.5.29.14'

export const REVOCATION_REASONS = {unspecified: 0, keyCompromise: 1, affiliationChanged: 3, superseded: 4, cessationOfOperation: 5} as const
export type RevocationReason = keyof typeof REVOCATION_REASONS

export interface RevokedEntry {
  /** Upper-case hex, as Node's X509Certificate.serialNumber gives it. */
  serial: string
  revokedAt: Date
  reason: RevocationReason
}

function time(date: Date): Buffer {
  // UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14)
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`))
}

function integerFromHex(hex: string): Buffer {
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex')
  while (bytes.length > 1 && bytes[0] === 0 && !(bytes[1] & 0x80)) bytes = bytes.subarray(1)
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes])
  return tlv(TAG.INTEGER, bytes)
}

function integerFromNumber(n: number): Buffer {
  return integerFromHex(n.toString(16))
}

/** The CA's subject (raw DER) and subject key identifier, for the CRL's issuer and AKI. */
function caNameAndKeyId(ca: crypto.X509Certificate): {subject: Buffer; keyId?: Buffer} {
  const tbs = children(children(readNode(ca.raw))[0])
  const offset = tbs[0].tag === TAG.CONTEXT_0 ? 1 : 0
  const subject = tbs[offset + 4].raw
  let keyId: Buffer | undefined
  const extensions = tbs.find((node) => node.tag === 0xa3)
  for (const extension of extensions ? children(children(extensions)[0]) : []) {
    const parts = children(extension)
    if (decodeOid(parts[0]) === OID_SKI) keyId = readNode(octets(parts.at(-1)!)).value
  }

  return {subject, keyId}
}

export function buildCrl(ca: crypto.X509Certificate, caKey: crypto.KeyObject, revoked: RevokedEntry[], options: {number: number; thisUpdate: Date; nextUpdate: Date}): string {
  const algorithm = sequence(encodeOid(SHA256_WITH_RSA), tlv(TAG.NULL))
  const {subject, keyId} = caNameAndKeyId(ca)
  const entries = revoked.map((entry) => sequence(
    integerFromHex(entry.serial),
    time(entry.revokedAt),
    sequence(sequence(encodeOid(OID_REASON), tlv(TAG.OCTET_STRING, tlv(0x0a, Buffer.from([REVOCATION_REASONS[entry.reason]]))))),
  ))
  const extensions = [sequence(encodeOid(OID_CRL_NUMBER), tlv(TAG.OCTET_STRING, integerFromNumber(options.number)))]
  if (keyId) extensions.unshift(sequence(encodeOid(OID_AKI), tlv(TAG.OCTET_STRING, sequence(tlv(0x80, keyId)))))
  const tbs = sequence(
    tlv(TAG.INTEGER, Buffer.from([1])), // v2
    algorithm,
    subject,
    time(options.thisUpdate),
    time(options.nextUpdate),
    ...(entries.length > 0 ? [sequence(...entries)] : []),
    tlv(TAG.CONTEXT_0, sequence(...extensions)),
  )
  const signature = crypto.sign('sha256', tbs, caKey)
  const der = sequence(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature))
  return toPem('X509 CRL', der)
}
