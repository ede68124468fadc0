import crypto from 'node:crypto'

import {Node, TAG, children, decodeOid, decodeTime, encodeOid, encodeTime, expectTag, integerFromHex, octets, readNode, sequence, tlv} from './der.js'
import {TetherError} from '../errors.js'
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
    encodeTime(entry.revokedAt),
    sequence(sequence(encodeOid(OID_REASON), tlv(TAG.OCTET_STRING, tlv(0x0a, Buffer.from([REVOCATION_REASONS[entry.reason]]))))),
  ))
  const extensions = [sequence(encodeOid(OID_CRL_NUMBER), tlv(TAG.OCTET_STRING, integerFromNumber(options.number)))]
  if (keyId) extensions.unshift(sequence(encodeOid(OID_AKI), tlv(TAG.OCTET_STRING, sequence(tlv(0x80, keyId)))))
  const tbs = sequence(
    tlv(TAG.INTEGER, Buffer.from([1])), // v2
    algorithm,
    subject,
    encodeTime(options.thisUpdate),
    encodeTime(options.nextUpdate),
    ...(entries.length > 0 ? [sequence(...entries)] : []),
    tlv(TAG.CONTEXT_0, sequence(...extensions)),
  )
  const signature = crypto.sign('sha256', tbs, caKey)
  const der = sequence(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature))
  return toPem('X509 CRL', der)
}

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
  return node && (node.tag === TAG.UTC_TIME || node.tag === TAG.GENERALIZED_TIME) ? decodeTime(node) : undefined
}

function unsigned(node: Node): bigint {
  const bytes = expectTag(node, TAG.INTEGER, 'an integer').value
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`)
}

function crlDer(input: string | Buffer): Buffer {
  const der = typeof input === 'string' ? pemBlocks(input).find((block) => block.label === 'X509 CRL')?.body : input
  if (!der) throw new TetherError('usage', 'not-a-crl', 'not a PEM certificate revocation list (no X509 CRL block)', {hint: 'pass the file `tether manager crl --output` writes'})
  return der
}

/** thisUpdate, nextUpdate, CRL number and revoked entries of a CRL (PEM or DER). The signature is not checked here. */
export function readCrl(input: string | Buffer): CrlSummary {
  const tbs = children(expectTag(children(expectTag(readNode(crlDer(input)), TAG.SEQUENCE, 'a CRL'))[0], TAG.SEQUENCE, 'the CRL contents'))
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

function invalidCrl(what: string): TetherError {
  return new TetherError('trust', 'crl-invalid', `the certificate revocation list is not valid: ${what}`, {hint: 'fetch a fresh one from the manager (`tether manager crl`)'})
}

/** A CRL whose signature verifies with `issuer`'s key and that names it as issuer (what an agent accepts). */
export function readVerifiedCrl(input: string | Buffer, issuer: crypto.X509Certificate): CrlSummary {
  try {
    const der = crlDer(input)
    const [tbsNode, algorithmNode, signatureNode] = children(expectTag(readNode(der), TAG.SEQUENCE, 'a CRL'))
    const tbs = children(expectTag(tbsNode, TAG.SEQUENCE, 'the CRL contents'))
    const issuerName = tbs[tbs[0].tag === TAG.INTEGER ? 2 : 1]
    if (!issuerName.raw.equals(caNameAndKeyId(issuer).subject)) throw invalidCrl('it is issued by another CA')
    if (decodeOid(children(algorithmNode)[0]) !== SHA256_WITH_RSA) throw invalidCrl('it is not signed with SHA-256/RSA')
    const signature = expectTag(signatureNode, 0x03, 'a signature').value.subarray(1)
    if (!crypto.verify('sha256', tbsNode.raw, issuer.publicKey, signature)) throw invalidCrl('its signature does not verify with the CA key')
    return readCrl(der)
  } catch (error) {
    if (error instanceof TetherError && error.code === 'crl-invalid') throw error
    throw invalidCrl('malformed')
  }
}
