import crypto from 'node:crypto'
import type net from 'node:net'
import {Duplex} from 'node:stream'

import {decodeOidBytes} from '../pki/der.js'

/**
 * What Node's TLS API does not say about a handshake, read from the bytes on the wire: did the
 * server send a CertificateRequest (and for which CAs), did we answer with a certificate, and
 * exactly which certificates the peer sent. TLS 1.2 handshakes are in clear; TLS 1.3 encrypts
 * everything after ServerHello, so its handshake records are decrypted with the handshake traffic
 * secrets the TLS socket hands out through its `keylog` event (RFC 8446 section 7).
 */

/** Only the handshake is needed; stop recording after this much in either direction. */
const MAX_CAPTURE_BYTES = 512 * 1024

/**
 * A pass-through stream between a TCP socket and the TLS socket that copies the raw bytes of both
 * directions. (A TLS socket built on a net.Socket reads it natively; a JS stream in between is
 * the only place to see the bytes.)
 */
export class WireTap extends Duplex {
  readonly fromPeer: Buffer[] = []
  readonly toPeer: Buffer[] = []
  private recording = true
  private captured = 0

  constructor(private readonly raw: net.Socket) {
    super()
    raw.on('data', (chunk: Buffer) => {
      this.record(this.fromPeer, chunk)
      if (!this.push(chunk)) raw.pause()
    })
    raw.once('end', () => this.push(null))
    raw.once('error', (error) => this.destroy(error))
    raw.once('close', () => {
      if (!this.destroyed) this.push(null)
    })
  }

  stopRecording(): void {
    this.recording = false
  }

  _read(): void {
    this.raw.resume()
  }

  _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.record(this.toPeer, chunk)
    if (this.raw.destroyed) {
      callback()
      return
    }

    this.raw.write(chunk, (error) => callback(error ?? null))
  }

  _final(callback: (error?: Error | null) => void): void {
    this.raw.end(() => callback())
  }

  _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.raw.destroy()
    callback(error)
  }

  private record(into: Buffer[], chunk: Buffer): void {
    if (!this.recording || this.captured > MAX_CAPTURE_BYTES) return
    this.captured += chunk.length
    into.push(Buffer.from(chunk))
  }
}

// --- TLS records and handshake messages ---

const RECORD = {changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23} as const
export const HANDSHAKE = {serverHello: 2, certificate: 11, certificateRequest: 13, finished: 20} as const

interface TlsRecord {
  type: number
  header: Buffer
  body: Buffer
}

function splitRecords(stream: Buffer): TlsRecord[] {
  const records: TlsRecord[] = []
  let offset = 0
  while (offset + 5 <= stream.length) {
    const length = stream.readUInt16BE(offset + 3)
    if (offset + 5 + length > stream.length) break
    records.push({type: stream[offset], header: stream.subarray(offset, offset + 5), body: stream.subarray(offset + 5, offset + 5 + length)})
    offset += 5 + length
  }

  return records
}

interface HandshakeMessage {
  type: number
  body: Buffer
}

/** Handshake messages can span records and several can share one: reassemble, then split. */
class HandshakeReader {
  private pending = Buffer.alloc(0)
  readonly messages: HandshakeMessage[] = []

  add(fragment: Buffer): void {
    this.pending = Buffer.concat([this.pending, fragment])
    while (this.pending.length >= 4) {
      const length = this.pending.readUIntBE(1, 3)
      if (this.pending.length < 4 + length) break
      this.messages.push({type: this.pending[0], body: this.pending.subarray(4, 4 + length)})
      this.pending = this.pending.subarray(4 + length)
    }
  }

  has(type: number): boolean {
    return this.messages.some((m) => m.type === type)
  }
}

// --- TLS 1.3 record protection (RFC 8446 sections 5.2, 5.3, 7.1, 7.3) ---

const TLS13_SUITES: Record<string, {aead: crypto.CipherGCMTypes | 'chacha20-poly1305'; hash: string; keyLength: number}> = {
  TLS_AES_128_GCM_SHA256: {aead: 'aes-128-gcm', hash: 'sha256', keyLength: 16},
  TLS_AES_256_GCM_SHA384: {aead: 'aes-256-gcm', hash: 'sha384', keyLength: 32},
  TLS_CHACHA20_POLY1305_SHA256: {aead: 'chacha20-poly1305', hash: 'sha256', keyLength: 32},
}

function hkdfExpandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'latin1')
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, fullLabel.length]), fullLabel, Buffer.from([0])])
  const blocks: Buffer[] = []
  let previous = Buffer.alloc(0)
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    previous = crypto.createHmac(hash, secret).update(Buffer.concat([previous, info, Buffer.from([i])])).digest()
    blocks.push(previous)
  }

  return Buffer.concat(blocks).subarray(0, length)
}

class RecordDecrypter {
  private sequence = 0n
  private readonly key: Buffer
  private readonly iv: Buffer

  constructor(private readonly suite: (typeof TLS13_SUITES)[string], secret: Buffer) {
    this.key = hkdfExpandLabel(suite.hash, secret, 'key', suite.keyLength)
    this.iv = hkdfExpandLabel(suite.hash, secret, 'iv', 12)
  }

  /** The inner plaintext's content type and content; throws if the record does not authenticate. */
  open(record: TlsRecord): {type: number; content: Buffer} {
    const nonce = Buffer.from(this.iv)
    for (let i = 0; i < 8; i++) nonce[11 - i] ^= Number((this.sequence >> BigInt(8 * i)) & 0xffn)
    this.sequence++
    const tag = record.body.subarray(record.body.length - 16)
    const decipher = crypto.createDecipheriv(this.suite.aead as crypto.CipherGCMTypes, this.key, nonce, {authTagLength: 16})
    decipher.setAAD(record.header)
    decipher.setAuthTag(tag)
    const inner = Buffer.concat([decipher.update(record.body.subarray(0, record.body.length - 16)), decipher.final()])
    let end = inner.length - 1
    while (end >= 0 && inner[end] === 0) end--
    if (end < 0) throw new Error('empty TLS 1.3 inner plaintext')
    return {type: inner[end], content: inner.subarray(0, end)}
  }
}

/** `SECRET_LABEL <client_random> <secret>` lines, as the `keylog` event emits them. */
export function parseKeyLog(lines: Buffer[]): Map<string, Buffer> {
  const secrets = new Map<string, Buffer>()
  for (const line of lines) {
    const [label, , secret] = line.toString('latin1').trim().split(' ')
    if (label && secret) secrets.set(label, Buffer.from(secret, 'hex'))
  }

  return secrets
}

/**
 * Read one direction's handshake messages: clear handshake records as they are, TLS 1.3
 * encrypted records with `decrypter`, until the Finished message (or until the records run out).
 */
function readDirection(stream: Buffer, decrypter: RecordDecrypter | undefined): {reader: HandshakeReader; alert?: number; undecryptable: boolean} {
  const reader = new HandshakeReader()
  let alert: number | undefined
  let undecryptable = false
  let afterChangeCipherSpec = false
  for (const record of splitRecords(stream)) {
    if (reader.has(HANDSHAKE.finished)) break
    if (record.type === RECORD.changeCipherSpec) {
      afterChangeCipherSpec = true
      continue
    }

    if (record.type === RECORD.alert) {
      // After ChangeCipherSpec a TLS 1.2 alert is encrypted: its number cannot be read.
      if (!(afterChangeCipherSpec && !decrypter) && record.body.length >= 2) alert = record.body[1]
      break
    }

    if (record.type === RECORD.handshake) {
      // TLS 1.2: the Finished after ChangeCipherSpec is encrypted, and the flight of interest is over.
      // (TLS 1.3 sends a dummy ChangeCipherSpec, and after a HelloRetryRequest a clear ServerHello.)
      if (afterChangeCipherSpec && !decrypter) break
      reader.add(record.body)
      continue
    }

    if (record.type === RECORD.applicationData && decrypter) {
      try {
        const inner = decrypter.open(record)
        if (inner.type === RECORD.handshake) reader.add(inner.content)
        else if (inner.type === RECORD.alert && inner.content.length >= 2) {
          alert = inner.content[1]
          break
        }
      } catch {
        undecryptable = true
        break
      }

      continue
    }

    break
  }

  return {reader, alert, undecryptable}
}

export interface WireHandshake {
  /** Whether the records could be read far enough to answer the questions below. */
  readable: boolean
  /** From the ServerHello: the version and cipher suite the server chose. */
  version?: 'TLSv1.3' | 'TLSv1.2' | string
  cipherSuite?: number
  /** The server sent a CertificateRequest. */
  certificateRequested?: boolean
  /** Distinguished names of the CAs the server said it accepts client certificates from. */
  acceptableCAs?: string[]
  /** We answered with a non-empty Certificate message. */
  clientCertificateSent?: boolean
  /** The certificates (DER) in the server's Certificate message, leaf first, exactly as sent. */
  peerCertificates?: Buffer[]
  /** An alert the server sent before or during its handshake flight. */
  serverAlert?: number
  note?: string
}

const TLS13_SUITE_NAMES: Record<number, string> = {0x13_01: 'TLS_AES_128_GCM_SHA256', 0x13_02: 'TLS_AES_256_GCM_SHA384', 0x13_03: 'TLS_CHACHA20_POLY1305_SHA256'}

/** The negotiated version and suite, from the first ServerHello in the server's clear records. */
function serverHello(fromPeer: Buffer): {version: string; cipherSuite: number} | undefined {
  const reader = new HandshakeReader()
  for (const record of splitRecords(fromPeer)) {
    if (record.type !== RECORD.handshake) break
    reader.add(record.body)
    const hello = reader.messages.find((m) => m.type === HANDSHAKE.serverHello)
    if (!hello) continue
    const cursor = new Cursor(hello.body)
    const legacyVersion = cursor.u16()
    cursor.offset += 32 // random
    cursor.vector(1) // legacy_session_id_echo
    const cipherSuite = cursor.u16()
    cursor.offset += 1 // compression method
    let version = legacyVersion === 0x03_03 ? 'TLSv1.2' : `0x${legacyVersion.toString(16)}`
    if (cursor.remaining > 0) {
      const extensions = new Cursor(cursor.vector(2))
      while (extensions.remaining > 0) {
        const type = extensions.u16()
        const data = extensions.vector(2)
        if (type === 43 && data.length === 2 && data.readUInt16BE(0) === 0x03_04) version = 'TLSv1.3' // supported_versions
      }
    }

    return {version, cipherSuite}
  }

  return undefined
}

/**
 * Analyse a captured handshake, complete or failed. `keyLog` are the lines the TLS socket's
 * `keylog` event emitted (needed for TLS 1.3 only).
 */
export function analyzeHandshake(tap: Pick<WireTap, 'fromPeer' | 'toPeer'>, keyLog: Buffer[]): WireHandshake {
  const fromPeer = Buffer.concat(tap.fromPeer)
  const toPeer = Buffer.concat(tap.toPeer)
  let hello: ReturnType<typeof serverHello>
  try {
    hello = serverHello(fromPeer)
  } catch {
    hello = undefined
  }

  if (!hello) {
    const clearAlert = splitRecords(fromPeer).find((r) => r.type === RECORD.alert && r.body.length >= 2)
    return {readable: false, serverAlert: clearAlert?.body[1], note: 'no ServerHello captured'}
  }

  const tls13 = hello.version === 'TLSv1.3'
  let serverDecrypter: RecordDecrypter | undefined
  let clientDecrypter: RecordDecrypter | undefined
  if (tls13) {
    const suite = TLS13_SUITES[TLS13_SUITE_NAMES[hello.cipherSuite] ?? '']
    const secrets = parseKeyLog(keyLog)
    const server = secrets.get('SERVER_HANDSHAKE_TRAFFIC_SECRET')
    const client = secrets.get('CLIENT_HANDSHAKE_TRAFFIC_SECRET')
    if (!suite || !server) return {readable: false, ...hello, note: 'no TLS 1.3 handshake secrets'}
    serverDecrypter = new RecordDecrypter(suite, server)
    clientDecrypter = client ? new RecordDecrypter(suite, client) : undefined
  }

  const server = readDirection(fromPeer, serverDecrypter)
  const serverMessages = server.reader.messages
  const request = serverMessages.find((m) => m.type === HANDSHAKE.certificateRequest)
  const certificate = serverMessages.find((m) => m.type === HANDSHAKE.certificate)
  // TLS 1.3: the server flight ends with Finished. TLS 1.2: with ServerHelloDone (14), in clear.
  const serverFlightComplete = tls13 ? server.reader.has(HANDSHAKE.finished) : serverMessages.some((m) => m.type === 14)
  const result: WireHandshake = {
    readable: serverFlightComplete && !server.undecryptable,
    ...hello,
    peerCertificates: certificate ? safely(() => certificateList(certificate.body, tls13), undefined) : undefined,
    serverAlert: server.alert,
  }
  if (!result.readable) return {...result, note: server.undecryptable ? 'server records did not decrypt' : 'server flight incomplete'}

  result.certificateRequested = request !== undefined
  if (request) {
    result.acceptableCAs = safely(() => (tls13 ? tls13RequestAuthorities(request.body) : tls12RequestAuthorities(request.body)), [])
    if (!tls13 || clientDecrypter) {
      const client = readDirection(toPeer, clientDecrypter)
      const answer = client.reader.messages.find((m) => m.type === HANDSHAKE.certificate)
      // Our flight ends with Finished (TLS 1.3) or ClientKeyExchange (16) before ChangeCipherSpec (TLS 1.2).
      const complete = tls13 ? client.reader.has(HANDSHAKE.finished) : client.reader.has(16)
      result.clientCertificateSent = answer ? safely(() => certificateList(answer.body, tls13).length > 0, undefined) : complete ? false : undefined
    }
  }

  return result
}

function safely<T>(fn: () => T, fallback: T): T {
  try {
    return fn()
  } catch {
    return fallback
  }
}

class Cursor {
  offset = 0
  constructor(private readonly buffer: Buffer) {}
  get remaining(): number {
    return this.buffer.length - this.offset
  }

  vector(lengthBytes: number): Buffer {
    const length = this.buffer.readUIntBE(this.offset, lengthBytes)
    const start = this.offset + lengthBytes
    if (start + length > this.buffer.length) throw new Error('truncated vector')
    this.offset = start + length
    return this.buffer.subarray(start, start + length)
  }

  u16(): number {
    const value = this.buffer.readUInt16BE(this.offset)
    this.offset += 2
    return value
  }
}

function certificateList(body: Buffer, tls13: boolean): Buffer[] {
  const cursor = new Cursor(body)
  if (tls13) cursor.vector(1) // certificate_request_context
  const list = new Cursor(cursor.vector(3))
  const certificates: Buffer[] = []
  while (list.remaining > 0) {
    certificates.push(list.vector(3))
    if (tls13) list.vector(2) // per-certificate extensions
  }

  return certificates
}

function distinguishedNames(vector: Buffer): string[] {
  const names = new Cursor(vector)
  const out: string[] = []
  while (names.remaining > 0) out.push(derNameToString(names.vector(2)))
  return out
}

function tls12RequestAuthorities(body: Buffer): string[] {
  const cursor = new Cursor(body)
  cursor.vector(1) // certificate_types
  cursor.vector(2) // supported_signature_algorithms
  return distinguishedNames(cursor.vector(2))
}

function tls13RequestAuthorities(body: Buffer): string[] {
  const cursor = new Cursor(body)
  cursor.vector(1) // certificate_request_context
  const extensions = new Cursor(cursor.vector(2))
  while (extensions.remaining > 0) {
    const type = extensions.u16()
    const data = extensions.vector(2)
    if (type === 47) return distinguishedNames(new Cursor(data).vector(2)) // certificate_authorities
  }

  return []
}

// --- just enough DER for names and algorithm identifiers ---

interface Tlv {
  tag: number
  content: Buffer
  next: number
}

function readTlv(buffer: Buffer, offset: number): Tlv {
  const tag = buffer[offset]
  let length = buffer[offset + 1]
  let start = offset + 2
  if (length & 0x80) {
    const bytes = length & 0x7f
    length = buffer.readUIntBE(offset + 2, bytes)
    start += bytes
  }

  if (start + length > buffer.length) throw new Error('truncated DER')
  return {tag, content: buffer.subarray(start, start + length), next: start + length}
}

function children(content: Buffer): Tlv[] {
  const out: Tlv[] = []
  for (let offset = 0; offset < content.length;) {
    const tlv = readTlv(content, offset)
    out.push(tlv)
    offset = tlv.next
  }

  return out
}


const NAME_ATTRIBUTES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.25': 'DC',
}

function derString(tlv: Tlv): string {
  if (tlv.tag === 0x1e) return Buffer.from(tlv.content).swap16().toString('utf16le') // BMPString
  return tlv.content.toString(tlv.tag === 0x0c ? 'utf8' : 'latin1')
}

/** `CN=x, O=y` in the certificate's order: the form `oneLineName(cert.subject)` gives. */
export function derNameToString(der: Buffer): string {
  const parts: string[] = []
  for (const rdn of children(readTlv(der, 0).content)) {
    for (const attribute of children(rdn.content)) {
      const [type, value] = children(attribute.content)
      const oid = decodeOidBytes(type.content)
      parts.push(`${NAME_ATTRIBUTES[oid] ?? oid}=${derString(value)}`)
    }
  }

  return parts.join(', ')
}

const SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
}

/** The certificate's signature algorithm (Node 20's X509Certificate does not expose it). */
export function signatureAlgorithm(der: Buffer): string {
  try {
    const [, algorithm] = children(readTlv(der, 0).content)
    const oid = decodeOidBytes(children(algorithm.content)[0].content)
    return SIGNATURE_ALGORITHMS[oid] ?? oid
  } catch {
    return 'unknown'
  }
}
