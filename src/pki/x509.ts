import crypto from 'node:crypto'
import net from 'node:net'

import type forgeType from 'node-forge'

import {TetherError} from '../errors.js'
import {loadPrivateKey} from './keys.js'
import {TAG, children, decodeOid, encodeOid, encodeTime, expectTag, integer, integerFromHex, readNode, sequence, tlv} from './der.js'
import {EKU, MANAGER_ROLE_OID} from './roles.js'

/**
 * Building X.509 certificates and reading CSRs natively (der.ts writes and walks the ASN.1, Node's
 * crypto parses keys and signs); making a CSR (the agent's side) still has node-forge assemble it,
 * signed natively. forge loads lazily, only for that.
 */

let forgeModule: typeof forgeType | undefined
export async function loadForge(): Promise<typeof forgeType> {
  // Lazy: node-forge is heavy; only making a CSR needs it.
  forgeModule ??= (await import('node-forge')).default
  return forgeModule
}

/** forge functions its type definitions leave out: the to-be-signed encoder of a CSR. */
interface ForgeInternals {
  getCertificationRequestInfo(csr: forgeType.pki.CertificateSigningRequest): forgeType.asn1.Asn1
}

export type CertificateProfile = 'ca' | 'manager' | 'agent'

export interface NameSpec {
  commonName: string
  organization?: string
  organizationalUnit?: string
}

export interface IssueOptions {
  profile: CertificateProfile
  subject: NameSpec
  /** The subject's public key (RSA), as PEM or already loaded (a CSR's, read by readCsr). */
  publicKeyPem?: string
  publicKey?: crypto.KeyObject
  /** The signer; omit for a self-signed certificate (then the signer's key is the subject's own). */
  issuerCertPem?: string
  /** The signer's key, already loaded (a key parsed per signature redoes OpenSSL's set-up: ~1.5 ms of RSA-3072). */
  signerKey?: crypto.KeyObject
  /** Else the signer's key as PEM. */
  signerKeyPem?: string
  validityDays: number
  /** DNS names and IP addresses for subjectAltName. */
  altNames?: string[]
  /** Backdate notBefore to tolerate modest clock skew between manager and agents. */
  backdateMinutes?: number
  notBefore?: Date
  /** Overrides validityDays: the exact end (short-lived certificates count from now, not from the backdated start). */
  notAfter?: Date
}

export const VALIDITY_DAYS = {ca: 3650 * 2, manager: 825, agent: 397} as const

/** forge writes CRLF line ends; tether's files use LF like openssl's. */
function normalizePem(pem: string): string {
  return pem.replace(/\r\n/g, '\n')
}

/** A positive 127-bit serial: random, so two managers never collide in practice. */
export function randomSerialHex(): string {
  const bytes = crypto.randomBytes(16)
  bytes[0] = (bytes[0] & 0x7f) | 0x01
  return bytes.toString('hex')
}

function toForgeAttrs(name: NameSpec): forgeType.pki.CertificateField[] {
  const attrs: forgeType.pki.CertificateField[] = [{shortName: 'CN', value: name.commonName}]
  if (name.organizationalUnit) attrs.push({shortName: 'OU', value: name.organizationalUnit})
  if (name.organization) attrs.push({shortName: 'O', value: name.organization})
  return attrs
}

const OID_EXT_KEY_USAGE = '2.5.29.37'

/** An extKeyUsage value as DER (forge's encoder cannot write arcs over 32 bits, like the role's). */
function extendedKeyUsage(oids: string[]): Buffer {
  return sequence(...oids.map(encodeOid))
}

function nativeSign(forge: typeof forgeType, tbs: forgeType.asn1.Asn1, signer: string | crypto.KeyObject): string {
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary')
  const key = typeof signer === 'string' ? loadPrivateKey(signer, 'signing key') : signer
  return crypto.sign('sha256', der, key).toString('binary')
}

const OID = {
  sha256WithRsa: '1.2.840.113549.1.1.11',
  rsaEncryption: '1.2.840.113549.1.1.1',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
} as const

const DER_NULL = Buffer.from([TAG.NULL, 0])
const DER_TRUE = Buffer.from([0x01, 0x01, 0xff])
const SHA256_WITH_RSA = sequence(encodeOid(OID.sha256WithRsa), DER_NULL)
const PRINTABLE_STRING = 0x13
const BIT_STRING = 0x03

/** A Name of NameSpec's attributes, one RDN each (CN, OU, O), as PrintableString: what forge wrote before. */
function encodeName(name: NameSpec): Buffer {
  const rdn = (oid: string, value: string) => tlv(TAG.SET, sequence(encodeOid(oid), tlv(PRINTABLE_STRING, Buffer.from(value, 'latin1'))))
  return sequence(
    rdn(OID.commonName, name.commonName),
    ...(name.organizationalUnit ? [rdn(OID.organizationalUnit, name.organizationalUnit)] : []),
    ...(name.organization ? [rdn(OID.organization, name.organization)] : []),
  )
}

/** The key identifier RFC 5280 4.2.1.2 (1) describes: SHA-1 of the RSAPublicKey (the subjectPublicKey bits). */
function keyIdentifier(key: crypto.KeyObject): Buffer {
  return crypto.createHash('sha1').update(key.export({type: 'pkcs1', format: 'der'})).digest()
}

/**
 * An RSA key's SubjectPublicKeyInfo, written here around its RSAPublicKey: the same bytes as
 * export({type: 'spki'}), which costs ~0.12 ms in OpenSSL 3's encoder against ~0.003 for pkcs1.
 */
function rsaSpki(key: crypto.KeyObject): Buffer {
  return sequence(sequence(encodeOid(OID.rsaEncryption), DER_NULL), tlv(BIT_STRING, Buffer.from([0]), key.export({type: 'pkcs1', format: 'der'})))
}

function extension(oid: string, value: Buffer, critical = false): Buffer {
  return sequence(encodeOid(oid), ...(critical ? [DER_TRUE] : []), tlv(TAG.OCTET_STRING, value))
}

/** An IP address as the 4 or 16 bytes of an iPAddress general name. */
function ipBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  let text = ip
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number)
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }

  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const groups = (part: string | undefined) => (part ? part.split(':') : [])
  const [left, right] = [groups(head), groups(tail)]
  const all = tail === undefined ? left : [...left, ...Array.from({length: 8 - left.length - right.length}, () => '0'), ...right]
  const bytes = Buffer.alloc(16)
  all.forEach((group, i) => bytes.writeUInt16BE(Number.parseInt(group, 16), i * 2))
  return bytes
}

function encodeAltNames(names: string[]): Buffer {
  // dNSName [2] and iPAddress [7], implicitly tagged (context-specific, primitive).
  return sequence(...names.map((n) => (net.isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'latin1')))))
}

/** What issuance needs of an issuer certificate: its subject Name (DER, as it is) and key identifier. */
interface IssuerFacts {
  name: Buffer
  keyIdentifier: Buffer
}

/** By the issuer's PEM: the CA's is the same at every issuance. */
const issuerFacts = new Map<string, IssuerFacts>()

function factsOf(issuerCertPem: string): IssuerFacts {
  let facts = issuerFacts.get(issuerCertPem)
  if (!facts) {
    const issuer = new crypto.X509Certificate(issuerCertPem)
    // Certificate > TBSCertificate > [version], serial, signature, issuer, validity, subject.
    const fields = children(children(readNode(issuer.raw))[0])
    const subject = fields[fields[0].tag === TAG.CONTEXT_0 ? 5 : 4]
    facts = {name: Buffer.from(subject.raw), keyIdentifier: keyIdentifier(issuer.publicKey)}
    // A handful at most (a CA rotation trusts two); bounded all the same.
    if (issuerFacts.size >= 8) issuerFacts.clear()
    issuerFacts.set(issuerCertPem, facts)
  }

  return facts
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/**
 * Build and sign an X.509 v3 certificate, all native: the TBSCertificate written with der.ts (the
 * same bytes forge's encoder wrote: PrintableString names, the issuer's name as in its
 * certificate, key identifiers by SHA-1 of the RSAPublicKey), signed by Node's crypto.
 */
export async function issueCertificate(options: IssueOptions): Promise<string> {
  const signer = options.signerKey ?? options.signerKeyPem
  if (!signer) throw new TetherError('internal', 'no-signing-key', 'issueCertificate needs the signer\'s key (signerKey or signerKeyPem)')
  const publicKey = options.publicKey ?? (options.publicKeyPem ? crypto.createPublicKey(options.publicKeyPem) : undefined)
  if (publicKey?.asymmetricKeyType !== 'rsa') throw new TetherError('internal', 'unsupported-key', `issueCertificate needs the subject's RSA public key (publicKey or publicKeyPem), got ${publicKey?.asymmetricKeyType ?? 'none'}`)
  const notBefore = options.notBefore ?? new Date(Date.now() - (options.backdateMinutes ?? 60) * 60_000)
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + options.validityDays * 86_400_000)
  const subject = encodeName(options.subject)
  const ownKeyId = keyIdentifier(publicKey)
  const issuer = options.issuerCertPem ? factsOf(options.issuerCertPem) : {name: subject, keyIdentifier: ownKeyId}

  const extensions = [
    extension(OID.subjectKeyIdentifier, tlv(TAG.OCTET_STRING, ownKeyId)),
    extension(OID.authorityKeyIdentifier, sequence(tlv(TAG.CONTEXT_PRIMITIVE_0, issuer.keyIdentifier))),
  ]
  if (options.profile === 'ca') {
    extensions.push(
      extension(OID.basicConstraints, sequence(DER_TRUE, integer(0)), true),
      // digitalSignature, keyCertSign, cRLSign: bits 0, 5, 6 (one unused bit).
      extension(OID.keyUsage, tlv(BIT_STRING, Buffer.from([0x01, 0x86])), true),
    )
  } else {
    extensions.push(
      extension(OID.basicConstraints, sequence(), true),
      // digitalSignature, keyEncipherment: bits 0 and 2 (five unused bits).
      extension(OID.keyUsage, tlv(BIT_STRING, Buffer.from([0x05, 0xa0])), true),
      // Each side is TLS server in one communication direction and client in the other. Only a
      // manager certificate carries the manager role, and signs configurations (emailProtection, as
      // `openssl cms -verify` expects of a signer).
      extension(OID_EXT_KEY_USAGE, extendedKeyUsage(options.profile === 'manager' ? [EKU.serverAuth, EKU.clientAuth, EKU.emailProtection, MANAGER_ROLE_OID] : [EKU.serverAuth, EKU.clientAuth])),
    )
    if (options.altNames && options.altNames.length > 0) extensions.push(extension(OID.subjectAltName, encodeAltNames(options.altNames)))
  }

  const tbs = sequence(
    tlv(TAG.CONTEXT_0, integer(2)),
    integerFromHex(randomSerialHex()),
    SHA256_WITH_RSA,
    issuer.name,
    sequence(encodeTime(notBefore), encodeTime(notAfter)),
    subject,
    rsaSpki(publicKey),
    tlv(0xa3, sequence(...extensions)),
  )
  const key = typeof signer === 'string' ? loadPrivateKey(signer, 'signing key') : signer
  const signature = crypto.sign('sha256', tbs, key)
  return toPem('CERTIFICATE', sequence(tbs, SHA256_WITH_RSA, tlv(BIT_STRING, Buffer.from([0]), signature)))
}

/** A PKCS#10 request signed with the requester's own key (proof of possession). */
export async function createCsr(subject: NameSpec, publicKeyPem: string, privateKeyPem: string): Promise<string> {
  const forge = await loadForge()
  const {pki} = forge
  const csr = pki.createCertificationRequest()
  csr.publicKey = pki.publicKeyFromPem(publicKeyPem)
  csr.setSubject(toForgeAttrs(subject))
  const sha256WithRSA = pki.oids.sha256WithRSAEncryption
  csr.signatureOid = sha256WithRSA
  csr.siginfo.algorithmOid = sha256WithRSA
  const info = (pki as unknown as ForgeInternals).getCertificationRequestInfo(csr)
  ;(csr as unknown as {certificationRequestInfo: forgeType.asn1.Asn1}).certificationRequestInfo = info
  csr.signature = nativeSign(forge, info, privateKeyPem)
  return normalizePem(pki.certificationRequestToPem(csr))
}

export interface VerifiedCsr {
  publicKeyPem: string
  /** The same key, loaded. */
  publicKey: crypto.KeyObject
  commonName?: string
  keyBits: number
}

/** A 4096-bit RSA request is under 2 KiB of PEM; 16 KiB leaves room and nothing bigger is parsed. */
export const MAX_CSR_BYTES = 16 * 1024

/** The DER of the first PEM block, when it is a CERTIFICATE REQUEST without headers; else undefined. */
function csrDer(pem: string): Buffer | undefined {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([^-]*?)-----END \1-----/.exec(pem)
  if (!match || match[1] !== 'CERTIFICATE REQUEST' || match[2].includes(':')) return undefined
  const body = match[2].replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return undefined
  return Buffer.from(body, 'base64')
}

interface CsrParts {
  /** The CertificationRequestInfo, as signed. */
  info: Buffer
  algorithm: string
  signature: Buffer
  /** The SubjectPublicKeyInfo's DER, and the key parsed from it. */
  spki: Buffer
  publicKey: crypto.KeyObject
  commonName?: string
}

/** PKCS#10 (RFC 2986), read with der.ts: the structure checked, the key parsed natively. Throws on anything else. */
function parseCsr(der: Buffer): CsrParts {
  const request = readNode(der)
  if (request.raw.length !== der.length) throw new Error('bytes after the request')
  const [info, algorithm, signature, ...rest] = children(expectTag(request, TAG.SEQUENCE, 'a CertificationRequest'))
  if (rest.length > 0) throw new Error('extra fields in the request')
  const [version, subject, spki, ...attributes] = children(expectTag(info, TAG.SEQUENCE, 'a CertificationRequestInfo'))
  expectTag(version, TAG.INTEGER, 'a version')
  expectTag(spki, TAG.SEQUENCE, 'a SubjectPublicKeyInfo')
  if (attributes.length > 1 || (attributes.length === 1 && attributes[0].tag !== TAG.CONTEXT_0)) throw new Error('unexpected fields after the key')
  const bits = expectTag(signature, BIT_STRING, 'a signature')
  if (bits.value[0] !== 0) throw new Error('a signature with unused bits')
  const publicKey = crypto.createPublicKey({key: Buffer.from(spki.raw), format: 'der', type: 'spki'})
  // forge, which read requests before, took RSA keys only: so does this.
  if (publicKey.asymmetricKeyType !== 'rsa') throw new Error(`a ${publicKey.asymmetricKeyType} key`)
  let commonName: string | undefined
  for (const rdn of children(expectTag(subject, TAG.SEQUENCE, 'a Name'))) {
    for (const attribute of children(expectTag(rdn, TAG.SET, 'a relative distinguished name'))) {
      const [type, value] = children(expectTag(attribute, TAG.SEQUENCE, 'an attribute'))
      if (commonName === undefined && decodeOid(type) === OID.commonName) commonName = value.value.toString(value.tag === 0x0c ? 'utf8' : 'latin1')
    }
  }

  return {info: info.raw, algorithm: decodeOid(children(expectTag(algorithm, TAG.SEQUENCE, 'an algorithm'))[0]), signature: bits.value.subarray(1), spki: spki.raw, publicKey, commonName}
}

/** Parse a CSR and check its self-signature natively; refuse weak, oversized or malformed requests. */
export async function readCsr(pem: string, minKeyBits = 2048): Promise<VerifiedCsr> {
  const size = Buffer.byteLength(pem, 'utf8')
  if (size > MAX_CSR_BYTES) {
    throw new TetherError('refused', 'csr-too-large', `the certificate signing request is ${size} bytes; at most ${MAX_CSR_BYTES} are accepted`, {
      hint: 'an agent CSR is a small PKCS#10 request; this one was not made by a tether agent',
    })
  }

  let csr: CsrParts
  try {
    const der = csrDer(pem)
    if (!der) throw new Error('no CERTIFICATE REQUEST PEM block')
    csr = parseCsr(der)
  } catch (error) {
    throw new TetherError('usage', 'invalid-csr', 'the certificate signing request is not a valid PKCS#10 request', {cause: error})
  }

  if (csr.algorithm !== OID.sha256WithRsa) {
    throw new TetherError('refused', 'csr-signature-algorithm', `the certificate signing request is signed with ${csr.algorithm}; expected sha256WithRSAEncryption`)
  }

  if (!crypto.verify('sha256', csr.info, csr.publicKey, csr.signature)) {
    throw new TetherError('trust', 'csr-bad-signature', 'the certificate signing request signature does not verify (no proof of key possession)')
  }

  const keyBits = csr.publicKey.asymmetricKeyDetails?.modulusLength ?? 0
  if (keyBits < minKeyBits) {
    throw new TetherError('refused', 'csr-weak-key', `the certificate signing request has a ${keyBits}-bit key; at least ${minKeyBits} bits are required`)
  }

  // The PEM of the SubjectPublicKeyInfo as the request holds it (what export() would write, without its cost).
  return {publicKeyPem: toPem('PUBLIC KEY', csr.spki), publicKey: csr.publicKey, commonName: csr.commonName, keyBits}
}
