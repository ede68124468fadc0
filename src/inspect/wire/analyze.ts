import {type ServerHello, certificateList, readServerHello, requestAuthorities} from './messages.js'
import {HANDSHAKE, HandshakeReader, RECORD, type TlsRecord, splitRecords} from './records.js'
import type {WireTap} from './tap.js'
import {RecordDecrypter, parseKeyLog} from './tls13.js'

/**
 * What Node's TLS API does not say about a handshake, read from the bytes on the wire: did the
 * server send a CertificateRequest (and for which CAs), did we answer with a certificate, and
 * exactly which certificates the peer sent. TLS 1.2 handshakes are in clear; TLS 1.3 ones are
 * decrypted with the handshake traffic secrets from the key log. Never throws: bytes from a
 * hostile or broken peer give a handshake marked unreadable, not an exception.
 */

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

interface Decrypters {
  server?: RecordDecrypter
  client?: RecordDecrypter
}

interface Direction {
  reader: HandshakeReader
  alert?: number
  undecryptable: boolean
}

/**
 * Analyse a captured handshake, complete or failed. `keyLog` are the lines the TLS socket's
 * `keylog` event emitted (needed for TLS 1.3 only).
 */
export function analyzeHandshake(tap: Pick<WireTap, 'fromPeer' | 'toPeer'>, keyLog: Buffer[]): WireHandshake {
  const fromPeer = Buffer.concat(tap.fromPeer)
  const toPeer = Buffer.concat(tap.toPeer)
  const hello = safely(() => readServerHello(fromPeer), undefined)
  if (!hello) {
    const clearAlert = splitRecords(fromPeer).find((r) => r.type === RECORD.alert && r.body.length >= 2)
    return {readable: false, serverAlert: clearAlert?.body[1], note: 'no ServerHello captured'}
  }

  const tls13 = hello.version === 'TLSv1.3'
  const keys: Decrypters | undefined = tls13 ? handshakeDecrypters(hello, keyLog) : {}
  if (!keys) return {readable: false, ...hello, note: 'no TLS 1.3 handshake secrets'}
  const server = readDirection(fromPeer, keys.server)
  const result = serverFlight(server, hello, tls13)
  if (!result.readable || !result.certificateRequested) return result
  if (tls13 && !keys.client) return result
  return {...result, clientCertificateSent: clientAnswer(readDirection(toPeer, keys.client), tls13)}
}

/** TLS 1.3: decrypters for both directions' handshake records; undefined without the server's secret. */
function handshakeDecrypters(hello: ServerHello, keyLog: Buffer[]): Decrypters | undefined {
  const secrets = parseKeyLog(keyLog)
  const server = secrets.get('SERVER_HANDSHAKE_TRAFFIC_SECRET')
  const client = secrets.get('CLIENT_HANDSHAKE_TRAFFIC_SECRET')
  const serverDecrypter = server ? RecordDecrypter.forSuite(hello.cipherSuite, server) : undefined
  if (!serverDecrypter) return undefined
  return {server: serverDecrypter, client: client ? RecordDecrypter.forSuite(hello.cipherSuite, client) : undefined}
}

/** What the server's flight says: its certificates, its alert, and whether (and for which CAs) it asked for ours. */
function serverFlight(server: Direction, hello: ServerHello, tls13: boolean): WireHandshake {
  const certificate = server.reader.find(HANDSHAKE.certificate)
  const request = server.reader.find(HANDSHAKE.certificateRequest)
  // TLS 1.3: the server flight ends with Finished. TLS 1.2: with ServerHelloDone, in clear.
  const complete = server.reader.has(tls13 ? HANDSHAKE.finished : HANDSHAKE.serverHelloDone)
  const result: WireHandshake = {
    readable: complete && !server.undecryptable,
    ...hello,
    peerCertificates: certificate ? safely(() => certificateList(certificate.body, tls13), undefined) : undefined,
    serverAlert: server.alert,
  }
  if (!result.readable) return {...result, note: server.undecryptable ? 'server records did not decrypt' : 'server flight incomplete'}
  return {
    ...result,
    certificateRequested: request !== undefined,
    ...(request ? {acceptableCAs: safely(() => requestAuthorities(request.body, tls13), [])} : {}),
  }
}

/** Did our flight carry a non-empty Certificate? Undefined when our flight was not captured far enough to tell. */
function clientAnswer(client: Direction, tls13: boolean): boolean | undefined {
  const answer = client.reader.find(HANDSHAKE.certificate)
  if (answer) return safely(() => certificateList(answer.body, tls13).length > 0, undefined)
  // Our flight ends with Finished (TLS 1.3) or ClientKeyExchange before ChangeCipherSpec (TLS 1.2).
  return client.reader.has(tls13 ? HANDSHAKE.finished : HANDSHAKE.clientKeyExchange) ? false : undefined
}

/**
 * Read one direction's handshake messages: clear handshake records as they are, TLS 1.3
 * encrypted records with `decrypter`, until the Finished message (or until the records run out).
 */
function readDirection(stream: Buffer, decrypter: RecordDecrypter | undefined): Direction {
  const direction: Direction = {reader: new HandshakeReader(), undecryptable: false}
  let afterChangeCipherSpec = false
  for (const record of splitRecords(stream)) {
    if (direction.reader.has(HANDSHAKE.finished)) break
    if (record.type === RECORD.changeCipherSpec) {
      afterChangeCipherSpec = true
      continue
    }

    // After ChangeCipherSpec, TLS 1.2 records (the Finished, an alert) are encrypted and the
    // flight of interest is over. (TLS 1.3 sends a dummy ChangeCipherSpec, and after a
    // HelloRetryRequest a clear ServerHello.)
    const sealed = afterChangeCipherSpec && !decrypter
    if (!readRecord(direction, record, sealed, decrypter)) break
  }

  return direction
}

/** Take one record into `direction`; false when reading should stop. */
function readRecord(direction: Direction, record: TlsRecord, sealed: boolean, decrypter: RecordDecrypter | undefined): boolean {
  if (record.type === RECORD.alert) {
    // A sealed alert's number cannot be read.
    if (!sealed && record.body.length >= 2) direction.alert = record.body[1]
    return false
  }

  if (record.type === RECORD.handshake && !sealed) {
    direction.reader.add(record.body)
    return true
  }

  if (record.type !== RECORD.applicationData || !decrypter) return false
  const inner = safely(() => decrypter.open(record), undefined)
  if (!inner) {
    direction.undecryptable = true
    return false
  }

  if (inner.type === RECORD.handshake) direction.reader.add(inner.content)
  if (inner.type === RECORD.alert && inner.content.length >= 2) {
    direction.alert = inner.content[1]
    return false
  }

  return true
}

function safely<T>(fn: () => T, fallback: T): T {
  try {
    return fn()
  } catch {
    return fallback
  }
}
