import crypto from 'node:crypto'

import {TetherError} from '../errors.js'
import {Node, TAG, children, decodeOid, encodeOid, expectTag, integer, octets, readNode, sequence, tlv} from './der.js'

/**
 * PKCS#7 / CMS EnvelopedData (RFC 5652) for the security configuration: content encrypted with
 * AES-256-CBC, its key wrapped to the agent's certificate with RSA-OAEP (RFC 8017; SHA-256 when we
 * build, SHA-1 or SHA-256 accepted, matching `openssl cms -encrypt -aes256 -keyopt
 * rsa_padding_mode:oaep`). Native crypto does all the cryptography; the structure is plain DER.
 */

const OID = {
  data: '1.2.840.113549.1.7.1',
  envelopedData: '1.2.840.113549.1.7.3',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  aes128Cbc: '2.16.840.1.101.3.4.1.2',
  aes192Cbc: '2.16.840.1.101.3.4.1.22',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  subjectKeyIdentifier: '2.5.29.14',
} as const

const CIPHERS: Record<string, {name: string; keyLength: number}> = {
  [OID.aes128Cbc]: {name: 'aes-128-cbc', keyLength: 16},
  [OID.aes192Cbc]: {name: 'aes-192-cbc', keyLength: 24},
  [OID.aes256Cbc]: {name: 'aes-256-cbc', keyLength: 32},
}

const HASHES: Record<string, 'sha1' | 'sha256'> = {[OID.sha1]: 'sha1', [OID.sha256]: 'sha256'}

function refuse(code: string, message: string, hint?: string): TetherError {
  return new TetherError('usage', code, message, {hint})
}

/** Issuer, serial and subject key identifier of a certificate, as raw DER for recipient matching. */
interface RecipientId {
  issuer: Buffer
  serial: Buffer
  subjectKeyId?: Buffer
}

function recipientIdOf(certificate: crypto.X509Certificate): RecipientId {
  const tbs = children(children(readNode(certificate.raw))[0])
  let i = tbs[0].tag === TAG.CONTEXT_0 ? 1 : 0
  const serial = tbs[i++].raw
  i++ // signature algorithm
  const issuer = tbs[i].raw
  let subjectKeyId: Buffer | undefined
  const extensions = tbs.find((node) => node.tag === 0xa3)
  if (extensions) {
    for (const extension of children(children(extensions)[0])) {
      const parts = children(extension)
      if (decodeOid(parts[0]) === OID.subjectKeyIdentifier) subjectKeyId = readNode(octets(parts.at(-1)!)).value
    }
  }

  return {issuer, serial, subjectKeyId}
}

function oaepParams(hash: 'sha1' | 'sha256'): Buffer {
  if (hash === 'sha1') return sequence() // every field at its default: SHA-1, MGF1-SHA-1, empty label
  const sha256 = sequence(encodeOid(OID.sha256))
  return sequence(tlv(TAG.CONTEXT_0, sha256), tlv(TAG.CONTEXT_1, sequence(encodeOid(OID.mgf1), sha256)))
}

/** Encrypt `content` to `recipient`: a DER ContentInfo holding EnvelopedData. */
export function buildEnvelope(content: Buffer, recipient: crypto.X509Certificate): Buffer {
  const key = crypto.randomBytes(32)
  const iv = crypto.randomBytes(16)
  const cipher = crypto.createCipheriv('aes-256-cbc', key, iv)
  const encryptedContent = Buffer.concat([cipher.update(content), cipher.final()])
  const wrappedKey = crypto.publicEncrypt({key: recipient.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256'}, key)
  const id = recipientIdOf(recipient)

  const recipientInfo = sequence(
    integer(0),
    sequence(id.issuer, id.serial),
    sequence(encodeOid(OID.rsaesOaep), oaepParams('sha256')),
    tlv(TAG.OCTET_STRING, wrappedKey),
  )
  const encryptedContentInfo = sequence(
    encodeOid(OID.data),
    sequence(encodeOid(OID.aes256Cbc), tlv(TAG.OCTET_STRING, iv)),
    tlv(TAG.CONTEXT_PRIMITIVE_0, encryptedContent),
  )
  const envelopedData = sequence(integer(0), tlv(TAG.SET, recipientInfo), encryptedContentInfo)
  return sequence(encodeOid(OID.envelopedData), tlv(TAG.CONTEXT_0, envelopedData))
}

export interface OpenedEnvelope {
  content: Buffer
  contentEncryption: string
  keyTransport: string
}

function parseOaep(params: Node | undefined): 'sha1' | 'sha256' {
  let hash: 'sha1' | 'sha256' = 'sha1'
  let mgfHash: 'sha1' | 'sha256' = 'sha1'
  for (const field of params && params.tag === TAG.SEQUENCE ? children(params) : []) {
    if (field.tag === TAG.CONTEXT_0) {
      const h = HASHES[decodeOid(children(children(field)[0])[0])]
      if (!h) throw refuse('envelope-unsupported', 'the envelope uses an RSA-OAEP hash other than SHA-1 or SHA-256')
      hash = h
    } else if (field.tag === TAG.CONTEXT_1) {
      const mgf = children(children(field)[0])
      if (decodeOid(mgf[0]) !== OID.mgf1) throw refuse('envelope-unsupported', 'the envelope uses a mask generation function other than MGF1')
      const h = HASHES[decodeOid(children(mgf[1])[0])]
      if (!h) throw refuse('envelope-unsupported', 'the envelope uses an MGF1 hash other than SHA-1 or SHA-256')
      mgfHash = h
    } else if (field.tag === TAG.CONTEXT_2) {
      throw refuse('envelope-unsupported', 'the envelope uses an RSA-OAEP label, which tether does not')
    }
  }

  // Node applies one digest to both OAEP and MGF1.
  if (hash !== mgfHash) throw refuse('envelope-unsupported', `the envelope mixes OAEP ${hash} with MGF1 ${mgfHash}`)
  return hash
}

/** Decrypt an envelope addressed to `certificate` with `privateKey`. Every failure is named. */
export function openEnvelope(envelope: Buffer, certificate: crypto.X509Certificate, privateKey: crypto.KeyObject): OpenedEnvelope {
  try {
    return openEnvelopeStructure(envelope, certificate, privateKey)
  } catch (error) {
    if (error instanceof TetherError) throw error
    // A field missing or of another type deep inside (found by fuzzing): hostile or damaged bytes.
    throw refuse('envelope-malformed', 'the configuration is not a well-formed CMS EnvelopedData structure', 'send it again; expected DER from `openssl cms -encrypt -outform DER`')
  }
}

function openEnvelopeStructure(envelope: Buffer, certificate: crypto.X509Certificate, privateKey: crypto.KeyObject): OpenedEnvelope {
  let recipientInfos: Node[]
  let encryptedContentInfo: Node[]
  try {
    const contentInfo = children(expectTag(readNode(envelope), TAG.SEQUENCE, 'a ContentInfo'))
    if (decodeOid(contentInfo[0]) !== OID.envelopedData) throw refuse('envelope-malformed', 'the content is not CMS EnvelopedData')
    const enveloped = children(children(expectTag(contentInfo[1], TAG.CONTEXT_0, 'the [0] content'))[0])
    let i = 1
    if (enveloped[i].tag === TAG.CONTEXT_0) i++ // originatorInfo
    recipientInfos = children(expectTag(enveloped[i], TAG.SET, 'recipientInfos'))
    encryptedContentInfo = children(expectTag(enveloped[i + 1], TAG.SEQUENCE, 'encryptedContentInfo'))
  } catch (error) {
    if (error instanceof TetherError && error.code !== 'malformed-der') throw error
    throw refuse('envelope-malformed', 'the configuration is not a CMS EnvelopedData structure (garbage or truncated)', 'send it again; expected DER from `openssl cms -encrypt -outform DER`')
  }

  const own = recipientIdOf(certificate)
  const seen: string[] = []
  for (const info of recipientInfos) {
    if (info.tag !== TAG.SEQUENCE) continue // other recipient types (kari, kekri, ...): not ours
    const [, rid, algorithm, encryptedKey] = children(info)
    const matches = rid.tag === TAG.SEQUENCE
      ? children(rid)[0].raw.equals(own.issuer) && children(rid)[1].raw.equals(own.serial)
      : rid.tag === TAG.CONTEXT_PRIMITIVE_0 && own.subjectKeyId !== undefined && rid.value.equals(own.subjectKeyId)
    if (!matches) {
      seen.push(rid.tag === TAG.SEQUENCE ? `serial ${children(rid)[1].value.toString('hex').toUpperCase()}` : `key id ${rid.value.toString('hex')}`)
      continue
    }

    const [algorithmOid, params] = children(algorithm)
    const keyTransport = decodeOid(algorithmOid)
    if (keyTransport === OID.rsaEncryption) {
      throw new TetherError('trust', 'envelope-pkcs1-refused', 'the envelope wraps its key with RSA PKCS#1 v1.5; tether requires RSA-OAEP', {
        hint: 'encrypt with `openssl cms -encrypt -aes256 -keyopt rsa_padding_mode:oaep`',
      })
    }

    if (keyTransport !== OID.rsaesOaep) throw refuse('envelope-unsupported', `unsupported key transport ${keyTransport}`)
    const hash = parseOaep(params)
    let key: Buffer
    try {
      key = crypto.privateDecrypt({key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash}, octets(encryptedKey))
    } catch (error) {
      throw new TetherError('trust', 'envelope-key-unwrap-failed', 'the content key does not decrypt with this agent\'s key (tampered, or wrapped to another key)', {cause: error})
    }

    const [, contentAlgorithm, encrypted] = encryptedContentInfo
    const [cipherOid, ivNode] = children(contentAlgorithm)
    const cipher = CIPHERS[decodeOid(cipherOid)]
    if (!cipher) throw refuse('envelope-unsupported', `unsupported content encryption ${decodeOid(cipherOid)}`, 'use AES-CBC (openssl cms -aes256)')
    if (key.length !== cipher.keyLength) throw new TetherError('trust', 'envelope-key-length', 'the content key has the wrong length for its cipher')
    if (!encrypted || (encrypted.tag & 0x1f) !== 0) throw refuse('envelope-malformed', 'the envelope carries no encrypted content')
    try {
      const decipher = crypto.createDecipheriv(cipher.name, key, octets(ivNode))
      const content = Buffer.concat([decipher.update(octets(encrypted)), decipher.final()])
      return {content, contentEncryption: cipher.name, keyTransport: `rsaes-oaep-${hash}`}
    } catch (error) {
      throw new TetherError('trust', 'envelope-decrypt-failed', 'the encrypted configuration does not decrypt (tampered or truncated)', {cause: error})
    }
  }

  throw new TetherError('trust', 'envelope-not-for-this-agent', `the envelope is encrypted to another recipient (${seen.join(', ') || 'none usable'}); this agent's certificate has serial ${own.serial.subarray(2).toString('hex').toUpperCase()}`, {
    hint: 'encrypt it to this agent\'s current certificate (ds_agent.crt)',
  })
}
