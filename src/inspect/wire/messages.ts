import {derNameToString} from '../x509-fields.js'
import {Cursor, HANDSHAKE, HandshakeReader, RECORD, splitRecords} from './records.js'

/**
 * The contents of the handshake messages the probe looks into: ServerHello (RFC 8446 4.1.3,
 * RFC 5246 7.4.1.3), Certificate (4.4.2 / 7.4.2) and CertificateRequest (4.3.2 / 7.4.4). Each
 * throws on a malformed message; the caller decides what a broken message means.
 */

const EXTENSION = {supportedVersions: 43, certificateAuthorities: 47} as const

export interface ServerHello {
  version: 'TLSv1.3' | 'TLSv1.2' | string
  cipherSuite: number
}

/** The negotiated version and suite, from the first ServerHello in the server's clear records. */
export function readServerHello(fromPeer: Buffer): ServerHello | undefined {
  const reader = new HandshakeReader()
  for (const record of splitRecords(fromPeer)) {
    if (record.type !== RECORD.handshake) break
    reader.add(record.body)
    const hello = reader.find(HANDSHAKE.serverHello)
    if (hello) return parseServerHello(hello.body)
  }

  return undefined
}

function parseServerHello(body: Buffer): ServerHello {
  const cursor = new Cursor(body)
  const legacyVersion = cursor.u16()
  cursor.skip(32) // random
  cursor.vector(1) // legacy_session_id_echo
  const cipherSuite = cursor.u16()
  cursor.skip(1) // compression method
  let version = legacyVersion === 0x03_03 ? 'TLSv1.2' : `0x${legacyVersion.toString(16)}`
  const extensions = cursor.remaining > 0 ? cursor.extensions() : []
  for (const {type, data} of extensions) {
    if (type === EXTENSION.supportedVersions && data.length === 2 && data.readUInt16BE(0) === 0x03_04) version = 'TLSv1.3'
  }

  return {version, cipherSuite}
}

/** The certificates (DER) of a Certificate message, leaf first, exactly as sent. */
export function certificateList(body: Buffer, tls13: boolean): Buffer[] {
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

/** The distinguished names of the CAs a CertificateRequest says client certificates may come from. */
export function requestAuthorities(body: Buffer, tls13: boolean): string[] {
  const cursor = new Cursor(body)
  if (!tls13) {
    cursor.vector(1) // certificate_types
    cursor.vector(2) // supported_signature_algorithms
    return distinguishedNames(cursor.vector(2))
  }

  cursor.vector(1) // certificate_request_context
  const authorities = cursor.extensions().find((extension) => extension.type === EXTENSION.certificateAuthorities)
  return authorities ? distinguishedNames(new Cursor(authorities.data).vector(2)) : []
}

function distinguishedNames(vector: Buffer): string[] {
  const names = new Cursor(vector)
  const out: string[] = []
  while (names.remaining > 0) out.push(derNameToString(names.vector(2)))
  return out
}
