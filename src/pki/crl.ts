import crypto from 'node:crypto'

import {TetherError} from '../errors.js'
import {Node, TAG, children, decodeOid, expectTag, octets, readNode, sequence, tlv, encodeOid} from './der.js'
import {pemBlocks, toPem} from './pem.js'

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

// --- reading ---

export interface CrlSummary {
  thisUpdate: Date
  /** Absent only in CRLs that never expire (RFC 5280 requires it; others may omit it). */
  nextUpdate?: Date
  /** The CRL number extension (monotonic per CA), if present. */
  number?: bigint
  /** Each revoked certificate: serial in upper-case hex of whole bytes (as buildCrl takes it), and when. */
  revoked: Array<{serial: string; revokedAt: Date}>
}

function readTime(node: Node | undefined): Date | undefined {
  if (!node || (node.tag !== 0x17 && node.tag !== 0x18)) return undefined
  const text = node.value.toString('latin1')
  const match = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (!match || match[1].length !== (node.tag === 0x17 ? 2 : 4)) throw new TetherError('usage', 'malformed-der', `malformed ASN.1: a time of ${JSON.stringify(text)}`)
  // UTCTime years 50-99 are 19xx (RFC 5280 4.1.2.5.1).
  const year = match[1].length === 4 ? Number(match[1]) : Number(match[1]) + (Number(match[1]) >= 50 ? 1900 : 2000)
  return new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])))
}

function unsigned(node: Node): bigint {
  const bytes = expectTag(node, TAG.INTEGER, 'an integer').value
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`)
}

/** thisUpdate, nextUpdate, CRL number and revoked entries of a CRL (PEM or DER). The signature is not checked here. */
export function readCrl(input: string | Buffer): CrlSummary {
  const der = typeof input === 'string' ? pemBlocks(input).find((block) => block.label === 'X509 CRL')?.body : input
  if (!der) throw new TetherError('usage', 'not-a-crl', 'not a PEM certificate revocation list (no X509 CRL block)', {hint: 'pass the file `tether manager crl --output` writes'})
  const tbs = children(expectTag(children(expectTag(readNode(der), TAG.SEQUENCE, 'a CRL'))[0], TAG.SEQUENCE, 'the CRL contents'))
  let at = tbs[0]?.tag === TAG.INTEGER ? 1 : 0 // version, present in v2
  at += 2 // signature algorithm, issuer
  const thisUpdate = readTime(tbs[at++])
  if (!thisUpdate) throw new TetherError('usage', 'malformed-der', 'malformed ASN.1: expected the CRL thisUpdate time')
  const nextUpdate = readTime(tbs[at])
  if (nextUpdate) at++
  const revoked: CrlSummary['revoked'] = []
  if (tbs[at]?.tag === TAG.SEQUENCE) {
    for (const entry of children(tbs[at++])) {
      const [serial, when] = children(entry)
      const hex = unsigned(serial).toString(16).toUpperCase()
      // Whole bytes, as Node's serialNumber and openssl write serials (0123AB, not 123AB).
      revoked.push({serial: hex.length % 2 ? `0${hex}` : hex, revokedAt: readTime(when)!})
    }
  }

  let number: bigint | undefined
  const extensions = tbs[at]?.tag === TAG.CONTEXT_0 ? children(children(tbs[at])[0]) : []
  for (const extension of extensions) {
    const parts = children(extension)
    if (decodeOid(parts[0]) === OID_CRL_NUMBER) number = unsigned(readNode(octets(parts.at(-1)!)))
  }

  return {thisUpdate, nextUpdate, number, revoked}
}
