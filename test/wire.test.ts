import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

import {afterAll, describe, expect, it} from 'vitest'

import {inspectEndpoint} from '../src/inspect/inspect.js'
import {analyzeHandshake} from '../src/inspect/wire/analyze.js'
import {HANDSHAKE, HandshakeReader, RECORD, splitRecords} from '../src/inspect/wire/records.js'
import {WireTap} from '../src/inspect/wire/tap.js'
import {derNameToString, signatureAlgorithm} from '../src/inspect/x509-fields.js'
import {oneLineName} from '../src/pki/certificate.js'
import {ROOT, tempDir} from './helpers.js'

/**
 * The wire parser against real captured handshakes (test/fixtures/wire, see its README): what it
 * extracts, and that broken or hostile bytes never throw out of it or out of the probe.
 */

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'wire')
const bytes = (name: string) => fs.readFileSync(path.join(FIXTURES, name))
const certificates = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/).filter((pem) => pem.trim()).map((pem) => new crypto.X509Certificate(pem))

const serverChain = certificates('server-chain.pem')
const clientCaNames = certificates('client-cas.pem').map((ca) => oneLineName(ca.subject))
const keyLog = fs.readFileSync(path.join(FIXTURES, 'tls13.keylog'), 'latin1').split('\n').filter((line) => line && !line.startsWith('#')).map((line) => Buffer.from(line, 'latin1'))
const keyLogWithout = (label: string) => keyLog.filter((line) => !line.toString('latin1').startsWith(`${label} `))

const tls12 = {fromPeer: [bytes('tls12.server.bin')], toPeer: [bytes('tls12.client.bin')]}
const tls13 = {fromPeer: [bytes('tls13.server.bin')], toPeer: [bytes('tls13.client.bin')]}
const captures: Array<[typeof tls12, Buffer[]]> = [[tls12, []], [tls13, keyLog]]

/** A deterministic byte generator, so a failing garbage case can be replayed. */
function garbage(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length)
  let state = seed
  for (let i = 0; i < length; i++) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    out[i] = state >> 16 & 0xff
  }

  return out
}

const record = (type: number, body: Buffer) => Buffer.concat([Buffer.from([type, 3, 3, body.length >> 8, body.length & 0xff]), body])
const handshakeMessage = (type: number, body: Buffer) => Buffer.concat([Buffer.from([type, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body])

function serverMessages(stream: Buffer): HandshakeReader {
  const reader = new HandshakeReader()
  for (const r of splitRecords(stream)) if (r.type === RECORD.handshake) reader.add(r.body)
  return reader
}

describe('a TLS 1.2 handshake (openssl s_server asking for a client certificate, s_client sending none)', () => {
  const wire = analyzeHandshake(tls12, [])

  it('reads the version and cipher suite from the ServerHello', () => {
    expect(wire.readable).toBe(true)
    expect(wire.version).toBe('TLSv1.2')
    expect(wire.cipherSuite).toBe(0xc0_30) // ECDHE-RSA-AES256-GCM-SHA384
  })

  it('returns the Certificate message\'s chain as the exact DER the server sent, leaf first', () => {
    expect(wire.peerCertificates).toEqual(serverChain.map((cert) => cert.raw))
  })

  it('sees the CertificateRequest and names its acceptable CAs as oneLineName does', () => {
    expect(wire.certificateRequested).toBe(true)
    expect(wire.acceptableCAs).toEqual(clientCaNames)
    expect(wire.acceptableCAs).toEqual(['O=tether fixtures, CN=Wire Fixture Client CA', 'C=DE, O=tether fixtures, OU=second, CN=Wire Fixture Second CA'])
  })

  it('reads our empty Certificate answer as no client certificate sent, and the server\'s handshake_failure alert (40)', () => {
    expect(wire.clientCertificateSent).toBe(false)
    expect(wire.serverAlert).toBe(40)
  })

  it('without our side of the capture still reads the server flight, and does not guess whether we sent one', () => {
    const serverOnly = analyzeHandshake({fromPeer: tls12.fromPeer, toPeer: []}, [])
    expect(serverOnly.acceptableCAs).toEqual(clientCaNames)
    expect(serverOnly.clientCertificateSent).toBeUndefined()
  })

  it('gives the same answer however the bytes were chunked on the socket', () => {
    const stream = tls12.fromPeer[0]
    const chunks = Array.from({length: Math.ceil(stream.length / 7)}, (_, i) => stream.subarray(i * 7, i * 7 + 7))
    expect(analyzeHandshake({fromPeer: chunks, toPeer: tls12.toPeer}, [])).toEqual(wire)
  })
})

describe('a TLS 1.3 handshake (client certificate sent), decrypted with the key log', () => {
  const wire = analyzeHandshake(tls13, keyLog)

  it('reads the version from supported_versions and the suite', () => {
    expect(wire.readable).toBe(true)
    expect(wire.version).toBe('TLSv1.3')
    expect(wire.cipherSuite).toBe(0x13_02) // TLS_AES_256_GCM_SHA384
  })

  it('decrypts the server flight: the chain\'s DER and the certificate_authorities of the CertificateRequest', () => {
    expect(wire.peerCertificates).toEqual(serverChain.map((cert) => cert.raw))
    expect(wire.certificateRequested).toBe(true)
    expect(wire.acceptableCAs).toEqual(clientCaNames)
    expect(wire.serverAlert).toBeUndefined()
  })

  it('decrypts our flight and finds our certificate in it', () => {
    expect(wire.clientCertificateSent).toBe(true)
    const [ours] = certificates('client.pem')
    expect(tls13.toPeer[0].includes(ours.raw)).toBe(false) // encrypted on the wire: only decryption can tell
  })

  it('without the key log: the version, and the note that the handshake secrets are missing', () => {
    const sealed = analyzeHandshake(tls13, [])
    expect(sealed).toMatchObject({readable: false, version: 'TLSv1.3', note: 'no TLS 1.3 handshake secrets'})
    expect(sealed.peerCertificates).toBeUndefined()
  })

  it('without the client secret: the server flight, but no claim about our certificate', () => {
    const partial = analyzeHandshake(tls13, keyLogWithout('CLIENT_HANDSHAKE_TRAFFIC_SECRET'))
    expect(partial.acceptableCAs).toEqual(clientCaNames)
    expect(partial.clientCertificateSent).toBeUndefined()
  })

  it('with a wrong server secret: records that do not authenticate, said so', () => {
    const wrong = [...keyLogWithout('SERVER_HANDSHAKE_TRAFFIC_SECRET'), Buffer.from(`SERVER_HANDSHAKE_TRAFFIC_SECRET ${'00'.repeat(32)} ${'11'.repeat(48)}`)]
    expect(analyzeHandshake(tls13, wrong)).toMatchObject({readable: false, note: 'server records did not decrypt'})
  })
})

describe('the certificate fields read with the DER reader', () => {
  it('the signature algorithm of a certificate, and `unknown` for anything that is not one', () => {
    const [leaf] = serverChain
    expect(signatureAlgorithm(leaf.raw)).toBe('sha256WithRSAEncryption')
    expect(signatureAlgorithm(leaf.raw.subarray(0, 200))).toBe('unknown')
    expect(signatureAlgorithm(Buffer.from('not a certificate'))).toBe('unknown')
  })

  it('a name with a cut-off length is an error, not an endless loop', {timeout: 5000}, () => {
    expect(() => derNameToString(Buffer.from([0x30, 0x05, 0x31, 0x03, 0x30, 0x82, 0x01]))).toThrow(/malformed ASN.1/)
  })
})

describe('broken and hostile bytes', () => {
  it('every truncation of either capture returns a result, and never a chain that is not the server\'s', () => {
    for (const [capture, log] of captures) {
      const stream = capture.fromPeer[0]
      let readableFrom: number | undefined
      for (let cut = 0; cut <= stream.length; cut++) {
        const wire = analyzeHandshake({fromPeer: [stream.subarray(0, cut)], toPeer: capture.toPeer}, log)
        if (wire.readable) readableFrom ??= cut
        else expect(readableFrom, `readable at ${readableFrom} but not at ${cut}`).toBeUndefined()
        for (const der of wire.peerCertificates ?? []) expect(serverChain.some((cert) => cert.raw.equals(der))).toBe(true)
      }

      expect(readableFrom).toBeGreaterThan(0)
      expect(readableFrom).toBeLessThanOrEqual(stream.length)
    }
  })

  it('every single-byte corruption of the server flight returns a result', () => {
    for (const [capture, log] of captures) {
      const stream = capture.fromPeer[0]
      for (let at = 0; at < stream.length; at++) {
        const broken = Buffer.from(stream)
        broken[at] ^= 0xff
        expect(() => analyzeHandshake({fromPeer: [broken], toPeer: capture.toPeer}, log)).not.toThrow()
      }
    }
  })

  it('random bytes in either direction are unreadable, with or without a key log', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const noise = garbage(seed, 64 + seed * 13)
      expect(analyzeHandshake({fromPeer: [noise], toPeer: [noise]}, keyLog).readable).toBe(false)
      expect(analyzeHandshake({fromPeer: [noise], toPeer: []}, []).readable).toBe(false)
    }
  })

  it('well-framed records with nonsense inside: a CertificateRequest whose CA name is cut off', () => {
    const messages = serverMessages(tls12.fromPeer[0]).messages
    const request = Buffer.concat([Buffer.from([1, 1]), Buffer.from([0, 2, 4, 1]), Buffer.from([0, 5, 0, 3, 0x30, 0x82, 0x01])])
    const flight = messages.map((m) => (m.type === HANDSHAKE.certificateRequest ? handshakeMessage(m.type, request) : handshakeMessage(m.type, m.body)))
    const wire = analyzeHandshake({fromPeer: [record(RECORD.handshake, Buffer.concat(flight))], toPeer: []}, [])
    expect(wire).toMatchObject({readable: true, certificateRequested: true, acceptableCAs: []})
    expect(wire.peerCertificates).toEqual(serverChain.map((cert) => cert.raw))
  })

  it('a Certificate message whose lengths lie yields no chain rather than a wrong one', () => {
    const messages = serverMessages(tls12.fromPeer[0]).messages
    const lying = Buffer.from([0x00, 0xff, 0xff, 0x00, 0x00, 0x10, 0x30])
    const flight = messages.map((m) => handshakeMessage(m.type, m.type === HANDSHAKE.certificate ? lying : m.body))
    const wire = analyzeHandshake({fromPeer: [record(RECORD.handshake, Buffer.concat(flight))], toPeer: []}, [])
    expect(wire.readable).toBe(true)
    expect(wire.peerCertificates).toBeUndefined()
  })
})

describe('the tap and the probe facing a hostile server on loopback', () => {
  const servers: net.Server[] = []
  afterAll(() => {
    for (const server of servers) server.close()
  })

  /** A TCP server that answers the first bytes it gets with `reply`, then hangs up. */
  async function replaying(reply: Buffer): Promise<number> {
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined)
      socket.once('data', () => socket.end(reply))
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return (server.address() as net.AddressInfo).port
  }

  const anonymous = (port: number) => inspectEndpoint({target: `127.0.0.1:${port}`, as: 'anonymous', env: {TETHER_MANAGER_HOME: tempDir()}, timeoutMs: 5000})

  it('the tap records both directions of a real connection byte for byte', async () => {
    const port = await replaying(tls12.fromPeer[0])
    const tap = new WireTap(net.connect(port, '127.0.0.1'))
    const socket = tls.connect({socket: tap, rejectUnauthorized: false, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2'})
    await new Promise((resolve) => socket.once('error', resolve).once('close', resolve))
    expect(Buffer.concat(tap.fromPeer).equals(tls12.fromPeer[0])).toBe(true)
    expect(splitRecords(Buffer.concat(tap.toPeer))[0].type).toBe(RECORD.handshake) // our ClientHello
    expect(analyzeHandshake(tap, []).peerCertificates).toEqual(serverChain.map((cert) => cert.raw))
  })

  it('a replayed server flight fails the handshake, and the chain is still read from the records', async () => {
    const report = await anonymous(await replaying(tls12.fromPeer[0]))
    expect(report.handshake.completed).toBe(false)
    expect(report.failure?.stage).toBe('tls-handshake')
    expect(report.peer.chainSource).toBe('wire')
    expect(report.peer.chain.map((cert) => cert.sha256)).toEqual(serverChain.map((cert) => cert.fingerprint256))
  })

  it('a leaf that is not DER: a failed handshake and no chain, not a crash', async () => {
    const broken = Buffer.from(tls12.fromPeer[0])
    broken[broken.indexOf(serverChain[0].raw)] = 0x04 // the leaf's SEQUENCE becomes an OCTET STRING
    const report = await anonymous(await replaying(broken))
    expect(report.failure?.stage).toBe('tls-handshake')
    expect(report.peer).toMatchObject({chainSource: 'none', chain: []})
  })

  it('random bytes instead of a ServerHello: a handshake failure with a reason', async () => {
    const report = await anonymous(await replaying(garbage(7, 4096)))
    expect(report.ok).toBe(false)
    expect(report.failure?.stage).toBe('tls-handshake')
    expect(report.failure?.reason).toMatch(/^[a-z-]+$/)
  })
})
