import crypto from 'node:crypto'

import {TetherError} from '../errors.js'
import {Node, TAG, children, decodeOid, decodeTime, encodeOid, encodeTime, expectTag, integer, octets, readNode, sequence, tlv} from './der.js'

/**
 * CMS SignedData (RFC 5652 section 5) for the security configuration: the manager signs it before
 * it is encrypted, so an agent applies only what a manager signed, whoever encrypted it to the
 * agent's (public) certificate. SHA-256, RSA PKCS#1 v1.5 signatures over signed attributes, the
 * signer's certificate included: the shape `openssl cms -sign -nodetach` writes and `-verify` reads.
 */

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
} as const

function refuse(code: string, message: string, hint?: string): TetherError {
  return new TetherError('trust', code, message, {hint})
}

const attribute = (oid: string, value: Buffer) => sequence(encodeOid(oid), tlv(TAG.SET, value))

/** DER SET OF: the elements in the order of their encodings (X.690 11.6). */
function setOf(elements: Buffer[]): Buffer {
  return tlv(TAG.SET, ...[...elements].sort(Buffer.compare))
}

/** The certificate's issuer name and serial, as raw DER, for a SignerIdentifier. */
function issuerAndSerial(certificate: crypto.X509Certificate): Buffer {
  const tbs = children(children(readNode(certificate.raw))[0])
  const offset = tbs[0].tag === TAG.CONTEXT_0 ? 1 : 0
  return sequence(tbs[offset + 2].raw, tbs[offset].raw)
}

/** Sign `content`: a DER ContentInfo holding SignedData with the content inside (not detached). */
export function signData(content: Buffer, signer: crypto.X509Certificate, key: crypto.KeyObject, now: Date = new Date()): Buffer {
  const digest = crypto.createHash('sha256').update(content).digest()
  const attributes = [
    attribute(OID.contentType, encodeOid(OID.data)),
    attribute(OID.signingTime, encodeTime(now)),
    attribute(OID.messageDigest, tlv(TAG.OCTET_STRING, digest)),
  ]
  // The signature covers the attributes as a SET; in the SignerInfo they are tagged [0] instead.
  const signedAttributes = setOf(attributes)
  const signature = crypto.sign('sha256', signedAttributes, key)
  const signerInfo = sequence(
    integer(1),
    issuerAndSerial(signer),
    sequence(encodeOid(OID.sha256)),
    Buffer.concat([Buffer.from([TAG.CONTEXT_0]), signedAttributes.subarray(1)]),
    sequence(encodeOid(OID.rsaEncryption), tlv(TAG.NULL)),
    tlv(TAG.OCTET_STRING, signature),
  )
  const signedData = sequence(
    integer(1),
    tlv(TAG.SET, sequence(encodeOid(OID.sha256))),
    sequence(encodeOid(OID.data), tlv(TAG.CONTEXT_0, tlv(TAG.OCTET_STRING, content))),
    tlv(TAG.CONTEXT_0, signer.raw),
    tlv(TAG.SET, signerInfo),
  )
  return sequence(encodeOid(OID.signedData), tlv(TAG.CONTEXT_0, signedData))
}

export interface VerifiedContent {
  content: Buffer
  /** The certificate whose key made the signature (the caller decides whether to trust it). */
  signer: crypto.X509Certificate
  signingTime?: Date
}

interface Parsed {
  content: Buffer
  certificates: crypto.X509Certificate[]
  signerInfos: Node[]
}

function parse(der: Buffer): Parsed {
  try {
    const contentInfo = children(expectTag(readNode(der), TAG.SEQUENCE, 'a ContentInfo'))
    if (decodeOid(contentInfo[0]) !== OID.signedData) throw new Error('not SignedData')
    const fields = children(children(expectTag(contentInfo[1], TAG.CONTEXT_0, 'the [0] content'))[0])
    const encapsulated = children(expectTag(fields[2], TAG.SEQUENCE, 'encapContentInfo'))
    if (decodeOid(encapsulated[0]) !== OID.data) throw new Error('not data')
    if (!encapsulated[1]) throw refuse('configuration-detached', 'the signed configuration carries no content (a detached signature)', 'sign with `openssl cms -sign -nodetach`')
    const content = octets(children(expectTag(encapsulated[1], TAG.CONTEXT_0, 'the [0] eContent'))[0])
    let i = 3
    const certificates: crypto.X509Certificate[] = []
    if (fields[i]?.tag === TAG.CONTEXT_0) for (const cert of children(fields[i++])) if (cert.tag === TAG.SEQUENCE) certificates.push(new crypto.X509Certificate(cert.raw))
    if (fields[i]?.tag === TAG.CONTEXT_1) i++ // crls
    return {content, certificates, signerInfos: children(expectTag(fields[i], TAG.SET, 'signerInfos'))}
  } catch (error) {
    if (error instanceof TetherError && error.code.startsWith('configuration-')) throw error
    throw refuse('configuration-unsigned', 'the configuration is not signed (no CMS SignedData inside the envelope)', 'a configuration must be signed by a manager certificate of this agent\'s CA')
  }
}

/** The signer's certificate: the included one matching the SignerIdentifier's issuer and serial. */
function signerCertificate(sid: Node, certificates: crypto.X509Certificate[]): crypto.X509Certificate {
  const found = certificates.find((cert) => sid.tag === TAG.SEQUENCE && issuerAndSerial(cert).equals(sid.raw))
  if (!found) throw refuse('configuration-signer-unknown', 'the configuration is signed by a certificate it does not include', 'sign with the signer certificate included (the openssl cms default)')
  return found
}

function attributeValue(attributes: Node[], oid: string): Node | undefined {
  const found = attributes.find((attr) => decodeOid(children(attr)[0]) === oid)
  return found ? children(children(found)[1])[0] : undefined
}

/** Check the one signature (SHA-256 with RSA) and return the content and its signer. */
export function verifySignedData(der: Buffer): VerifiedContent {
  const {content, certificates, signerInfos} = parse(der)
  if (signerInfos.length !== 1) throw refuse('configuration-signers', `the configuration has ${signerInfos.length} signatures; exactly one is expected`)
  const [, sid, digestAlgorithm, ...rest] = children(signerInfos[0])
  if (decodeOid(children(digestAlgorithm)[0]) !== OID.sha256) throw refuse('configuration-digest', 'the configuration is signed with a digest other than SHA-256', 'sign with `openssl cms -sign -md sha256`')
  const signer = signerCertificate(sid, certificates)
  const signed = rest[0]?.tag === TAG.CONTEXT_0 ? rest.shift()! : undefined
  const [algorithm, signatureNode] = rest
  if (![OID.rsaEncryption, OID.sha256WithRsa].includes(decodeOid(children(algorithm)[0]) as never)) throw refuse('configuration-signature-algorithm', 'the configuration is not signed with RSA')
  const signature = expectTag(signatureNode, TAG.OCTET_STRING, 'a signature').value
  const bad = () => refuse('configuration-signature-invalid', 'the configuration signature does not verify (tampered, or signed by another key)')
  if (!signed) {
    if (!crypto.verify('sha256', content, signer.publicKey, signature)) throw bad()
    return {content, signer}
  }

  const attributes = children(signed)
  const digest = attributeValue(attributes, OID.messageDigest)
  if (!digest || !octets(digest).equals(crypto.createHash('sha256').update(content).digest())) throw bad()
  const time = attributeValue(attributes, OID.signingTime)
  // The signature covers the attributes re-tagged as a SET.
  const asSet = Buffer.concat([Buffer.from([TAG.SET]), signed.raw.subarray(1)])
  if (!crypto.verify('sha256', asSet, signer.publicKey, signature)) throw bad()
  return {content, signer, signingTime: time ? decodeTimeSafe(time) : undefined}
}

function decodeTimeSafe(node: Node): Date | undefined {
  try {
    return decodeTime(node)
  } catch {
    // A malformed signing time is informational only; the signature already verified.
    return undefined
  }
}
