import crypto from 'node:crypto'
import {Readable} from 'node:stream'
import zlib from 'node:zlib'

import fc from 'fast-check'
import {beforeAll, describe, expect, it} from 'vitest'

import {TetherError} from '../src/errors.js'
import {analyzeHandshake} from '../src/inspect/wire/analyze.js'
import {HandshakeReader, splitRecords} from '../src/inspect/wire/records.js'
import {parseKeyLog} from '../src/inspect/wire/tls13.js'
import {buildEnvelope, openEnvelope} from '../src/pki/cms.js'
import {children, readNode} from '../src/pki/der.js'
import {generateRsaKeyPair} from '../src/pki/keys.js'
import {createCsr, issueCertificate, readCsr} from '../src/pki/x509.js'
import {ReplyReader} from '../src/channel/http-reply.js'
import {BodyLimits, decodeBody, encodeBody} from '../src/protocol/codec.js'
import {CommandName, MESSAGES, errorFromReply, parseReply, parseRequest} from '../src/protocol/messages.js'
import {ASYNC_PARAMS, PARAMS, RUNS, TIMEOUT_MS, derTree, mutation, onlyTetherErrors, onlyTetherErrorsAsync} from './fuzz.js'

/**
 * Property-based tests of every parser that reads bytes a peer sent: the body codec, DER and the
 * CMS envelope reader, the CSR reader, the protocol schemas and the handshake wire parser. Each
 * returns or fails with a TetherError, in bounded time and memory, whatever it is given.
 */

describe(`the body codec (${RUNS} runs a property)`, () => {
  const small: BodyLimits = {maxCompressedBytes: 4096, maxDecompressedBytes: 4096}
  const decode = (bytes: Uint8Array, limits: BodyLimits, encoding = 'gzip') => decodeBody(Readable.from([Buffer.from(bytes)]), encoding, limits)
  const gzipped = fc.oneof(
    fc.uint8Array({maxLength: 8192}).map((bytes) => zlib.gzipSync(bytes)),
    fc.jsonValue().map((value) => encodeBody(value)),
    fc.jsonValue().chain((value) => mutation(encodeBody(value))),
    // Bombs: zeros far past the cap, a few hundred bytes compressed.
    fc.integer({min: 4097, max: 4 * 1024 * 1024}).map((size) => zlib.gzipSync(Buffer.alloc(size), {level: 9})),
  )

  it('any bytes, any encoding header: a value within the caps, or a TetherError', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(gzipped, fc.uint8Array({maxLength: 8192})), fc.constantFrom('gzip', 'identity', undefined, 'GZIP'), async (bytes, encoding) => onlyTetherErrorsAsync(async () => {
      const value = await decode(bytes, small, encoding as string)
      // Bounded memory: what comes out never exceeds what the caps let in.
      expect(Buffer.byteLength(JSON.stringify(value ?? null))).toBeLessThanOrEqual(small.maxDecompressedBytes)
    })), ASYNC_PARAMS)
  }, TIMEOUT_MS)

  it('a body over the decompressed cap is always body-too-large, never parsed', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({min: 4097, max: 1024 * 1024}), fc.constantFrom(0, 0x41, 0x7b), async (size, fill) => {
      const error = await decode(zlib.gzipSync(Buffer.alloc(size, fill)), small).then(() => undefined, (e: unknown) => e)
      expect(error).toBeInstanceOf(TetherError)
      expect((error as TetherError).code).toBe('body-too-large')
    }), ASYNC_PARAMS)
  }, TIMEOUT_MS)
})

describe(`the HTTP reply reader (${RUNS} runs a property)`, () => {
  const head = fc.tuple(fc.constantFrom('HTTP/1.1 200 OK', 'HTTP/1.0 403 Forbidden', 'HTTP/1.1 100 Continue', 'HTTP/2 200', ''), fc.array(fc.tuple(fc.constantFrom('content-length', 'Content-Length', 'transfer-encoding', 'content-encoding', 'connection', 'x y', ''), fc.string({maxLength: 12})), {maxLength: 5}))
    .map(([status, headers]) => `${status}\r\n${headers.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`)
  const reply = fc.oneof(head.map((h) => Buffer.from(h, 'latin1')), fc.tuple(head, fc.uint8Array({maxLength: 256})).map(([h, b]) => Buffer.concat([Buffer.from(h, 'latin1'), b])), fc.uint8Array({maxLength: 20_000}).map((b) => Buffer.from(b)))

  it('any bytes, split anywhere: a reply within the cap, more wanted, or a TetherError', () => {
    fc.assert(fc.property(reply, fc.array(fc.nat(), {maxLength: 4}), (bytes, cuts) => onlyTetherErrors(() => {
      const reader = new ReplyReader(128)
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
      let from = 0
      for (const to of [...points, bytes.length]) {
        const done = reader.push(bytes.subarray(from, to))
        from = to
        if (done) {
          expect(done.body.length).toBe(done.head.contentLength)
          expect(done.head.contentLength).toBeLessThanOrEqual(128)
          return
        }
      }
    })), PARAMS)
  }, TIMEOUT_MS)
})

describe(`DER and the CMS envelope reader (${RUNS} runs a property)`, () => {
  let certificate: crypto.X509Certificate
  let key: crypto.KeyObject
  let envelope: Buffer
  beforeAll(async () => {
    const keys = await generateRsaKeyPair()
    const pem = await issueCertificate({profile: 'agent', subject: {commonName: 'fuzz'}, publicKeyPem: keys.publicKeyPem, signerKeyPem: keys.privateKeyPem, validityDays: 1})
    certificate = new crypto.X509Certificate(pem)
    key = crypto.createPrivateKey(keys.privateKeyPem)
    envelope = buildEnvelope(Buffer.from('{"policy":"fuzz"}'), certificate)
  })

  const deep = fc.integer({min: 1, max: 5000}).map((depth) => Buffer.concat([Buffer.alloc(depth * 2, Buffer.from([0x30, 0x80])), Buffer.alloc(depth * 2)]))

  it('readNode and children: any bytes, random DER trees, deep BER nesting', () => {
    fc.assert(fc.property(fc.oneof(fc.uint8Array({maxLength: 2048}).map((b) => Buffer.from(b)), derTree, deep), (bytes) => onlyTetherErrors(() => {
      const node = readNode(bytes)
      if (node.constructed) for (const child of children(node)) if (child.constructed) children(child)
    })), PARAMS)
  }, TIMEOUT_MS)

  it('openEnvelope: any bytes, DER trees, and mutations of a real envelope', () => {
    const inputs = () => fc.oneof(fc.uint8Array({maxLength: 2048}).map((b) => Buffer.from(b)), derTree, deep, mutation(envelope), mutation(envelope), mutation(envelope))
    fc.assert(fc.property(inputs(), (bytes) => onlyTetherErrors(() => openEnvelope(bytes, certificate, key))), PARAMS)
  }, TIMEOUT_MS)

  it('the unmutated envelope still opens (the property above is not vacuous)', () => {
    expect(openEnvelope(envelope, certificate, key).content.toString()).toBe('{"policy":"fuzz"}')
  })
})

describe(`the CSR reader (${RUNS} runs a property)`, () => {
  let csr: string
  beforeAll(async () => {
    const keys = await generateRsaKeyPair()
    csr = await createCsr({commonName: 'fuzz.test'}, keys.publicKeyPem, keys.privateKeyPem)
  })

  const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`
  const derOf = (text: string) => Buffer.from(text.replace(/-----[^-]+-----|\s/g, ''), 'base64')

  it('readCsr: any text, any DER in PEM armour, mutations of a real request', async () => {
    const inputs = fc.oneof(
      fc.string({maxLength: 4096}),
      fc.uint8Array({maxLength: 2048}).map(pem),
      derTree.map(pem),
      fc.constant(null).chain(() => mutation(derOf(csr))).map(pem),
      fc.string({minLength: 16 * 1024 + 1, maxLength: 20 * 1024}),
    )
    await fc.assert(fc.asyncProperty(inputs, async (text) => onlyTetherErrorsAsync(() => readCsr(text))), ASYNC_PARAMS)
  }, TIMEOUT_MS)

  it('the real request still reads', async () => {
    expect((await readCsr(csr)).commonName).toBe('fuzz.test')
  })
})

describe(`the protocol schemas (${RUNS} runs a property)`, () => {
  const names = Object.keys(MESSAGES) as CommandName[]
  /** Values shaped like the schemas' fields, so the checks get past "not an object". */
  const field = fc.oneof(fc.string({maxLength: 300}), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('activated', 'bidirectional', 'x'.repeat(70_000)), fc.array(fc.jsonValue(), {maxLength: 3}))
  const keys = ['hostname', 'platform', 'state', 'csr', 'certificate', 'communication', 'envelope', 'events', 'instance', 'through', 'status', 'reason', 'message', 'error', 'accepted', 'sha256', 'managerAddress', 'mode', 'heartbeatSeconds', '__proto__', 'constructor']
  const body = fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom(...keys), field, {maxKeys: 8}))

  it('parseRequest and parseReply: a value, or a TetherError naming the command', () => {
    fc.assert(fc.property(fc.constantFrom(...names), body, (name, value) => onlyTetherErrors(() => {
      try {
        parseRequest(name, value)
      } catch (error) {
        expect((error as Error).message).toContain(name)
        throw error
      }
    }) && onlyTetherErrors(() => parseReply(name, value))), PARAMS)
  }, TIMEOUT_MS)

  it('errorFromReply: any status and body make a TetherError', () => {
    fc.assert(fc.property(fc.constantFrom(...names), fc.integer({min: 0, max: 999}), body, (name, status, value) => {
      expect(errorFromReply(name, status, value)).toBeInstanceOf(TetherError)
    }), PARAMS)
  }, TIMEOUT_MS)
})

describe(`the handshake wire parser (${RUNS} runs a property)`, () => {
  /** A TLS record of `type` around `body`. */
  const record = (type: number, body: Uint8Array) => Buffer.concat([Buffer.from([type, 3, 3, body.length >> 8, body.length & 0xff]), Buffer.from(body)])
  /** A handshake message of `type` whose length field says `claimed` (or the truth). */
  const message = fc.tuple(fc.constantFrom(2, 11, 13, 14, 16, 20, 8, 255), fc.uint8Array({maxLength: 300}), fc.option(fc.integer({min: 0, max: 0xffffff}))).map(([type, body, claimed]) => {
    const length = claimed ?? body.length
    return Buffer.concat([Buffer.from([type, length >> 16, (length >> 8) & 0xff, length & 0xff]), Buffer.from(body)])
  })
  /** A ServerHello that says TLS 1.3 (supported_versions) with one of its suites, to reach the decrypting path. */
  const hello13 = fc.tuple(fc.constantFrom(0x1301, 0x1302, 0x1303, 0xc02f), fc.uint8Array({minLength: 32, maxLength: 32})).map(([suite, random]) => {
    const extensions = Buffer.from([0x00, 0x2b, 0x00, 0x02, 0x03, 0x04])
    const body = Buffer.concat([Buffer.from([3, 3]), Buffer.from(random), Buffer.from([0]), Buffer.from([suite >> 8, suite & 0xff, 0]), Buffer.from([0, extensions.length]), extensions])
    return Buffer.concat([Buffer.from([2, 0, body.length >> 8, body.length & 0xff]), body])
  })
  const stream = fc.array(fc.oneof(
    fc.tuple(fc.constantFrom(20, 21, 22, 23, 99), fc.uint8Array({maxLength: 400})).map(([type, body]) => record(type, body)),
    message.map((m) => record(22, m)),
    hello13.map((m) => record(22, m)),
    fc.uint8Array({maxLength: 64}).map((b) => Buffer.from(b)),
  ), {maxLength: 8})
  const keyLog = fc.array(fc.tuple(fc.constantFrom('SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_RANDOM', 'x'), fc.uint8Array({minLength: 0, maxLength: 64})).map(([label, secret]) => Buffer.from(`${label} ${'00'.repeat(32)} ${Buffer.from(secret).toString('hex')}\n`)), {maxLength: 3})

  it('analyzeHandshake never throws, whatever was captured', () => {
    fc.assert(fc.property(stream, stream, keyLog, (fromPeer, toPeer, lines) => {
      const started = performance.now()
      const result = analyzeHandshake({fromPeer, toPeer}, lines)
      expect(typeof result.readable).toBe('boolean')
      expect(performance.now() - started).toBeLessThan(2000)
    }), PARAMS)
  }, TIMEOUT_MS)

  it('splitRecords, HandshakeReader and parseKeyLog never throw', () => {
    fc.assert(fc.property(fc.uint8Array({maxLength: 4096}), stream, fc.array(fc.uint8Array({maxLength: 200}), {maxLength: 5}), (bytes, records, lines) => {
      const reader = new HandshakeReader()
      for (const r of splitRecords(Buffer.concat([Buffer.from(bytes), ...records]))) reader.add(r.body)
      expect(reader.messages.every((m) => m.body.length <= 4096 + 8 * 400)).toBe(true)
      parseKeyLog(lines.map((l) => Buffer.from(l)))
    }), PARAMS)
  }, TIMEOUT_MS)
})
