import crypto from 'node:crypto'
import net from 'node:net'

import type forgeType from 'node-forge'

import {TetherError} from '../errors.js'
import {loadPrivateKey} from './keys.js'
import {encodeOid, sequence} from './der.js'
import {EKU, MANAGER_ROLE_OID} from './roles.js'

/**
 * Building X.509 certificates and CSRs: node-forge assembles the ASN.1, Node's native crypto makes
 * the RSA signature over the to-be-signed bytes (the hybrid signer). forge loads lazily, so
 * commands that only read certificates never pay for it.
 */

let forgeModule: typeof forgeType | undefined
export async function loadForge(): Promise<typeof forgeType> {
  // Lazy: node-forge is heavy; only issuing and CSRs need it.
  forgeModule ??= (await import('node-forge')).default
  return forgeModule
}

/** forge functions its type definitions leave out: the to-be-signed encoders. */
interface ForgeInternals {
  getTBSCertificate(cert: forgeType.pki.Certificate): forgeType.asn1.Asn1
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
  publicKeyPem: string
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

function altNameEntries(names: string[]): Array<{type: number; value?: string; ip?: string}> {
  return names.map((n) => (net.isIP(n) ? {type: 7, ip: n} : {type: 2, value: n}))
}

const OID_EXT_KEY_USAGE = '2.5.29.37'

/** An extKeyUsage value as DER (forge's encoder cannot write arcs over 32 bits, like the role's). */
function extendedKeyUsage(oids: string[]): string {
  return sequence(...oids.map(encodeOid)).toString('binary')
}

function nativeSign(forge: typeof forgeType, tbs: forgeType.asn1.Asn1, signer: string | crypto.KeyObject): string {
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary')
  const key = typeof signer === 'string' ? loadPrivateKey(signer, 'signing key') : signer
  return crypto.sign('sha256', der, key).toString('binary')
}

interface IssuerFacts {
  attributes: forgeType.pki.CertificateField[]
  keyIdentifier: string
}

/** What issuance needs of an issuer certificate, by its PEM: the CA's is the same at every issuance. */
const issuerFacts = new Map<string, IssuerFacts>()

function factsOf(forge: typeof forgeType, issuerCertPem: string): IssuerFacts {
  let facts = issuerFacts.get(issuerCertPem)
  if (!facts) {
    const issuer = forge.pki.certificateFromPem(issuerCertPem)
    facts = {attributes: issuer.subject.attributes, keyIdentifier: issuer.generateSubjectKeyIdentifier().getBytes()}
    // A handful at most (a CA rotation trusts two); bounded all the same.
    if (issuerFacts.size >= 8) issuerFacts.clear()
    issuerFacts.set(issuerCertPem, facts)
  }

  return facts
}

export async function issueCertificate(options: IssueOptions): Promise<string> {
  const forge = await loadForge()
  const {pki} = forge
  const cert = pki.createCertificate()
  cert.publicKey = pki.publicKeyFromPem(options.publicKeyPem)
  cert.serialNumber = randomSerialHex()

  const notBefore = options.notBefore ?? new Date(Date.now() - (options.backdateMinutes ?? 60) * 60_000)
  cert.validity.notBefore = notBefore
  cert.validity.notAfter = options.notAfter ?? new Date(notBefore.getTime() + options.validityDays * 86_400_000)
  cert.setSubject(toForgeAttrs(options.subject))

  const issuer = options.issuerCertPem ? factsOf(forge, options.issuerCertPem) : undefined
  cert.setIssuer(issuer ? issuer.attributes : toForgeAttrs(options.subject))

  const authorityKeyId = issuer ? issuer.keyIdentifier : cert.generateSubjectKeyIdentifier().getBytes()
  const extensions: Array<Record<string, unknown>> = [
    {name: 'subjectKeyIdentifier'},
    {name: 'authorityKeyIdentifier', keyIdentifier: authorityKeyId},
  ]
  if (options.profile === 'ca') {
    extensions.push(
      {name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true},
      {name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true},
    )
  } else {
    extensions.push(
      {name: 'basicConstraints', cA: false, critical: true},
      {name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true},
      // Each side is TLS server in one communication direction and client in the other. Only a
      // manager certificate carries the manager role, and signs configurations (emailProtection, as
      // `openssl cms -verify` expects of a signer).
      options.profile === 'manager'
        ? {id: OID_EXT_KEY_USAGE, value: extendedKeyUsage([EKU.serverAuth, EKU.clientAuth, EKU.emailProtection, MANAGER_ROLE_OID])}
        : {name: 'extKeyUsage', serverAuth: true, clientAuth: true},
    )
    if (options.altNames && options.altNames.length > 0) {
      extensions.push({name: 'subjectAltName', altNames: altNameEntries(options.altNames)})
    }
  }

  cert.setExtensions(extensions)

  const sha256WithRSA = pki.oids.sha256WithRSAEncryption
  cert.signatureOid = sha256WithRSA
  cert.siginfo.algorithmOid = sha256WithRSA
  const tbs = (pki as unknown as ForgeInternals).getTBSCertificate(cert)
  // forge types omit the cached tbsCertificate field that certificateToAsn1 reuses.
  ;(cert as unknown as {tbsCertificate: forgeType.asn1.Asn1}).tbsCertificate = tbs
  const signer = options.signerKey ?? options.signerKeyPem
  if (!signer) throw new TetherError('internal', 'no-signing-key', 'issueCertificate needs the signer\'s key (signerKey or signerKeyPem)')
  cert.signature = nativeSign(forge, tbs, signer)
  return normalizePem(pki.certificateToPem(cert))
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
  commonName?: string
  keyBits: number
}

/** A 4096-bit RSA request is under 2 KiB of PEM; 16 KiB leaves room and nothing bigger is parsed. */
export const MAX_CSR_BYTES = 16 * 1024

/** Parse a CSR and check its self-signature natively; refuse weak, oversized or malformed requests. */
export async function readCsr(pem: string, minKeyBits = 2048): Promise<VerifiedCsr> {
  const size = Buffer.byteLength(pem, 'utf8')
  if (size > MAX_CSR_BYTES) {
    throw new TetherError('refused', 'csr-too-large', `the certificate signing request is ${size} bytes; at most ${MAX_CSR_BYTES} are accepted`, {
      hint: 'an agent CSR is a small PKCS#10 request; this one was not made by a tether agent',
    })
  }

  const forge = await loadForge()
  const {pki} = forge
  let csr: forgeType.pki.CertificateSigningRequest
  try {
    csr = pki.certificationRequestFromPem(pem)
  } catch (error) {
    throw new TetherError('usage', 'invalid-csr', 'the certificate signing request is not a valid PKCS#10 request', {cause: error})
  }

  if (csr.signatureOid !== pki.oids.sha256WithRSAEncryption) {
    throw new TetherError('refused', 'csr-signature-algorithm', `the certificate signing request is signed with ${csr.signatureOid}; expected sha256WithRSAEncryption`)
  }

  const info = (csr as unknown as {certificationRequestInfo: forgeType.asn1.Asn1}).certificationRequestInfo
  const der = Buffer.from(forge.asn1.toDer(info).getBytes(), 'binary')
  const publicKeyPem = pki.publicKeyToPem(csr.publicKey as forgeType.pki.rsa.PublicKey)
  // One native parse of the key serves the signature check and the key size.
  const publicKey = crypto.createPublicKey(publicKeyPem)
  const signature = Buffer.from(csr.signature as string, 'binary')
  if (!crypto.verify('sha256', der, publicKey, signature)) {
    throw new TetherError('trust', 'csr-bad-signature', 'the certificate signing request signature does not verify (no proof of key possession)')
  }

  const keyBits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0
  if (keyBits < minKeyBits) {
    throw new TetherError('refused', 'csr-weak-key', `the certificate signing request has a ${keyBits}-bit key; at least ${minKeyBits} bits are required`)
  }

  const cn = csr.subject.getField('CN')
  return {publicKeyPem, commonName: cn ? String(cn.value) : undefined, keyBits}
}
