import crypto from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import zlib from 'node:zlib'

import {afterEach, describe, expect, it} from 'vitest'

import {HttpSession} from '../src/channel/http-session.js'
import {MAX_REPLY_HEAD_BYTES, ReplyReader} from '../src/channel/http-reply.js'
import {TetherError} from '../src/errors.js'
import {bootstrapIdentity} from '../src/pki/bootstrap.js'
import {UNAUTHENTICATED_LIMITS, encodeBody} from '../src/protocol/codec.js'

/**
 * HttpSession reads replies itself (src/channel/http-reply.ts), so what a hostile peer can send it
 * is tested here over real TLS on loopback: a server holding the public bootstrap key (anyone can)
 * answers each request with scripted bytes.
 */

type Script = (request: string, socket: tls.TLSSocket) => void

const servers: tls.Server[] = []
afterEach(() => {
  for (const server of servers.splice(0)) server.close()
})

/** A TLS server answering every request (read up to its body's end) with `script`. */
async function peer(script: Script): Promise<{port: number; requests: string[]}> {
  const {certPem, keyPem} = bootstrapIdentity()
  const requests: string[] = []
  const server = tls.createServer({cert: certPem, key: keyPem}, (socket) => {
    let buffered = Buffer.alloc(0)
    socket.on('error', () => undefined)
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buffered.toString('latin1', 0, end)
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
        if (buffered.length < end + 4 + length) return
        buffered = buffered.subarray(end + 4 + length)
        requests.push(head)
        script(head, socket)
      }
    })
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {port: (server.address() as net.AddressInfo).port, requests}
}

async function session(port: number): Promise<HttpSession> {
  const socket = tls.connect({host: '127.0.0.1', port, rejectUnauthorized: false})
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
  return new HttpSession(socket, UNAUTHENTICATED_LIMITS)
}

const gzipJson = (value: unknown) => encodeBody(value)
function reply(body: Buffer, headers: Record<string, string | number> = {}, status = '200 OK'): Buffer {
  const lines = Object.entries({'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length, ...headers}).map(([name, value]) => `${name}: ${value}`)
  return Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body])
}

async function failure(promise: Promise<unknown>): Promise<TetherError> {
  const error = await promise.then(() => undefined, (e: unknown) => e)
  expect(error).toBeInstanceOf(TetherError)
  return error as TetherError
}

describe('HttpSession against real peers', () => {
  it('calls in turn over one socket, each reply read whole however the bytes were split', async () => {
    let n = 0
    const {port, requests} = await peer((_request, socket) => {
      const bytes = reply(gzipJson({n: ++n}))
      // The second reply arrives one byte per write: the head's end straddles chunks.
      if (n === 2) for (let i = 0; i < bytes.length; i++) setTimeout(() => socket.write(bytes.subarray(i, i + 1)), 0)
      else socket.write(bytes)
    })
    const s = await session(port)
    try {
      const replies = await Promise.all([s.call('GetHostInfo'), s.call('GetAgentStatus', {limit: 5}), s.call('GetHostInfo')])
      expect(replies.map((r) => [r.status, r.body])).toEqual([[200, {n: 1}], [200, {n: 2}], [200, {n: 3}]])
      expect(requests.map((r) => r.split('\r\n')[0])).toEqual(['POST /GetHostInfo HTTP/1.1', 'POST /GetAgentStatus HTTP/1.1', 'POST /GetHostInfo HTTP/1.1'])
      expect(requests[1]).toMatch(/\r\ncontent-encoding: gzip\r\n/)
    } finally {
      s.close()
    }
  })

  it('an error status keeps its decoded body', async () => {
    const {port} = await peer((_r, socket) => socket.write(reply(gzipJson({error: {code: 'nope', message: 'no'}}), {}, '403 Forbidden')))
    const s = await session(port)
    const r = await s.call('SetDSMCert')
    s.close()
    expect(r).toEqual({status: 403, body: {error: {code: 'nope', message: 'no'}}})
  })

  const refused: Array<[string, (socket: tls.TLSSocket) => void, string]> = [
    ['chunked', (socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'), 'reply-malformed'],
    ['no Content-Length', (socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n\r\n'), 'reply-malformed'],
    ['two Content-Lengths', (socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\ncontent-length: 0\r\n\r\n'), 'reply-malformed'],
    ['a negative Content-Length', (socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n'), 'reply-malformed'],
    ['an interim 100', (socket) => socket.write('HTTP/1.1 100 Continue\r\n\r\n'), 'reply-malformed'],
    ['not HTTP', (socket) => socket.write('SSH-2.0-OpenSSH_9.2\r\n\r\n'), 'reply-malformed'],
    ['a folded header', (socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n x: folded\r\n\r\n'), 'reply-malformed'],
    ['an endless head', (socket) => socket.write(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(MAX_REPLY_HEAD_BYTES)}`), 'reply-malformed'],
    ['a body over the compressed cap', (socket) => socket.write(`HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: ${UNAUTHENTICATED_LIMITS.maxCompressedBytes + 1}\r\n\r\n`), 'body-too-large'],
    ['a bomb over the decompressed cap', (socket) => socket.write(reply(zlib.gzipSync(Buffer.alloc(UNAUTHENTICATED_LIMITS.maxDecompressedBytes + 1), {level: 9}))), 'body-too-large'],
    ['a body not gzip', (socket) => socket.write(reply(Buffer.from('{}'), {'content-encoding': 'identity'})), 'body-not-gzip'],
    ['gzip cut short', (socket) => socket.write(reply(gzipJson({a: 'b'.repeat(100)}).subarray(0, 20))), 'body-corrupt'],
    ['a close mid-body', (socket) => socket.end(reply(gzipJson({a: 1})).subarray(0, 60)), 'session-broken'],
    ['a reset before any reply', (socket) => socket.destroy(), 'session-broken'],
  ]
  // A body read whole but not decodable leaves the framing intact; anything else ends the session.
  const framingIntact = new Set(['a bomb over the decompressed cap', 'a body not gzip', 'gzip cut short'])
  for (const [what, script, code] of refused) {
    it(`refuses ${what} (${code})${framingIntact.has(what) ? '' : ', and the session is over'}`, async () => {
      const {port, requests} = await peer((_r, socket) => script(socket))
      const s = await session(port)
      const error = await failure(s.call('GetHostInfo'))
      expect(error.code).toBe(code)
      if (!framingIntact.has(what)) {
        expect((await failure(s.call('GetHostInfo'))).code).toMatch(/^session-(closed|broken)$/)
        expect(requests).toHaveLength(1)
      }

      s.close()
    })
  }

  it('a peer silent past the timeout: command-timeout, socket closed', async () => {
    const {port} = await peer(() => undefined)
    const s = await session(port)
    const error = await failure(s.call('GetHostInfo', {}, {timeoutMs: 200}))
    expect(error.code).toBe('command-timeout')
    expect((await failure(s.call('GetHostInfo'))).code).toBe('session-closed')
  })

  it('Connection: close and bytes nobody asked for end the session after the reply', async () => {
    const {port} = await peer((_r, socket) => socket.write(reply(gzipJson({ok: 1}), {connection: 'close'})))
    const s = await session(port)
    expect((await s.call('GetHostInfo')).body).toEqual({ok: 1})
    expect((await failure(s.call('GetHostInfo'))).code).toBe('session-closed')

    const extra = await peer((_r, socket) => socket.write(Buffer.concat([reply(gzipJson({ok: 2})), reply(gzipJson({forged: true}))])))
    const t = await session(extra.port)
    expect((await t.call('GetHostInfo')).body).toEqual({ok: 2})
    expect((await failure(t.call('GetHostInfo'))).code).toBe('session-closed')
    expect(extra.requests).toHaveLength(1)
  })
})

describe('ReplyReader', () => {
  it('reads the head case-insensitively and leaves the body as sent', () => {
    const body = gzipJson({x: 1})
    const r = new ReplyReader(1024).push(Buffer.concat([Buffer.from(`HTTP/1.0 201 Created\r\nContent-Encoding: GZIP\r\nCONTENT-LENGTH: ${body.length}\r\nConnection: keep-alive\r\n\r\n`), body]))
    expect(r?.head).toEqual({status: 201, contentEncoding: 'gzip', contentLength: body.length, close: false})
    expect(r?.body.equals(body)).toBe(true)
    expect(r?.extra).toBe(0)
    // HTTP/1.0 without keep-alive closes.
    expect(new ReplyReader(1024).push(Buffer.from('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n'))?.head.close).toBe(true)
  })
})

/** An HTTP server on 127.0.0.1 that answers each request at once, before reading its body. */
async function earlyReplier(): Promise<{server: http.Server; port: number}> {
  const server = http.createServer((req, res) => {
    const body = encodeBody({answered: req.url})
    res.writeHead(200, {'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length}).end(body)
    req.resume()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {server, port: (server.address() as net.AddressInfo).port}
}

describe('HttpSession over one socket', () => {
  const httpServers: http.Server[] = []
  afterEach(async () => {
    for (const server of httpServers.splice(0)) await new Promise((resolve) => server.close(resolve))
  })

  it('sends the next request after a reply that ended before its request was flushed (the first request\'s cleanup must not take the next one\'s socket listeners)', async () => {
    const {server, port} = await earlyReplier()
    httpServers.push(server)
    const socket = net.connect(port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const session = new HttpSession(socket)
    try {
      // Incompressible and larger than the socket buffers: the reply comes while it is still being written.
      const big = {blob: crypto.randomBytes(8 << 20).toString('base64')}
      for (let i = 0; i < 3; i++) {
        expect((await session.call('Big', big, {timeoutMs: 10_000})).body).toEqual({answered: '/Big'})
        expect((await session.call('Small', {}, {timeoutMs: 10_000})).body).toEqual({answered: '/Small'})
      }
    } finally {
      session.close()
    }
  })
})
