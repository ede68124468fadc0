import {Readable, Transform, TransformCallback} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import zlib from 'node:zlib'

import {TetherError} from '../errors.js'

/**
 * Every body between manager and agent is JSON, gzip-compressed (`Content-Encoding: gzip`).
 * Decoding has hard caps on both the compressed and the decompressed size, so a gzip bomb or an
 * endless body is a clear protocol error rather than an out-of-memory. A small body (almost every
 * message) is collected and inflated in one call; only a large one goes through the streams.
 */

export const CONTENT_TYPE = 'application/json'
export const CONTENT_ENCODING = 'gzip'

export interface BodyLimits {
  maxCompressedBytes: number
  maxDecompressedBytes: number
}

/** The mutual context: configuration-sized (a policy envelope can be large). */
export const DEFAULT_LIMITS: BodyLimits = {
  maxCompressedBytes: 16 * 1024 * 1024,
  maxDecompressedBytes: 64 * 1024 * 1024,
}

/**
 * Peers that proved nothing (the bootstrap key is public): the largest honest message there is a
 * certificate of at most 64 KiB (SetAgentCredentials) or a CSR of at most 16 KiB, so 256 KiB is
 * four times that, and 40 concurrent bombs hold at most 10 MiB of decompressed bytes.
 */
export const UNAUTHENTICATED_LIMITS: BodyLimits = {
  maxCompressedBytes: 256 * 1024,
  maxDecompressedBytes: 256 * 1024,
}

/** The caps for a peer: only one that proved a certificate of our CA gets the large ones. */
export function bodyLimitsFor(peer: 'authenticated' | 'unauthenticated'): BodyLimits {
  return peer === 'authenticated' ? DEFAULT_LIMITS : UNAUTHENTICATED_LIMITS
}

/** Compressed bodies up to this size are inflated in one call (a fresh stream pipeline costs ~0.3 ms). */
export const SMALL_BODY_BYTES = 32 * 1024

/**
 * A small body gets a deflate state sized to it (a window just larger than the text, a small hash):
 * the default state is ~256 KiB to allocate and clear, half the cost of compressing a certificate.
 * Any gzip reader inflates it; a window at least the text's length loses almost nothing.
 */
function gzipText(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length >= SMALL_BODY_BYTES) return zlib.gzipSync(bytes, {level: 6})
  let windowBits = 9
  while (windowBits < 15 && 1 << windowBits < bytes.length + DEFLATE_LOOKAHEAD) windowBits++
  return zlib.gzipSync(bytes, {level: 6, windowBits, memLevel: 4})
}

/** zlib's MIN_LOOKAHEAD: the window deflate can match within is this much smaller than 2^windowBits. */
const DEFLATE_LOOKAHEAD = 262

/** The constant request bodies (`{}`, `{"limit":500}`, ...), each compressed once: a deflate state is ~256 KiB. */
const constantBodies = new Map<string, Buffer>()
const CONSTANT_BODY_CHARS = 32
const CONSTANT_BODY_ENTRIES = 64

export function encodeBody(value: unknown): Buffer {
  const text = JSON.stringify(value ?? {})
  if (text.length > CONSTANT_BODY_CHARS) return gzipText(text)
  let payload = constantBodies.get(text)
  if (!payload) {
    payload = gzipText(text)
    if (constantBodies.size >= CONSTANT_BODY_ENTRIES) constantBodies.clear()
    constantBodies.set(text, payload)
  }

  return payload
}

export function tooLarge(what: string, limit: number): TetherError {
  return new TetherError('refused', 'body-too-large', `the ${what} size exceeds the limit of ${limit} bytes`, {
    hint: 'the peer sent more than a tether message may hold (a decompression bomb or a broken peer)',
  })
}

class ByteCap extends Transform {
  private seen = 0
  constructor(private readonly limit: number, private readonly what: string) {
    super()
  }

  _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.limit) {
      callback(tooLarge(this.what, this.limit))
      return
    }

    callback(null, chunk)
  }
}

interface Head {
  chunks: Buffer[]
  ended: boolean
}

/**
 * Collect the body up to `limit` compressed bytes. If it ends within them, `ended`; otherwise the
 * stream is paused with what was read put back, for the streaming path to read from the start.
 */
function readHead(source: Readable, limit: number): Promise<Head> {
  return new Promise<Head>((resolve, reject) => {
    const chunks: Buffer[] = []
    let bytes = 0
    const done = (error: Error | undefined, ended: boolean) => {
      source.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose)
      if (error) reject(error)
      else resolve({chunks, ended})
    }

    const onData = (chunk: Buffer | string) => {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)
      chunks.push(buffer)
      bytes += buffer.length
      if (bytes <= limit) return
      source.pause()
      done(undefined, false)
      source.unshift(Buffer.concat(chunks))
    }

    const onEnd = () => done(undefined, true)
    const onError = (error: Error) => done(error, false)
    // Closed without an end (a reset peer): what the stream pipeline reports as a premature close.
    const onClose = () => done(Object.assign(new Error('Premature close'), {code: 'ERR_STREAM_PREMATURE_CLOSE'}), false)
    source.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose)
  })
}

/** Inflate a whole small body in one call, with the same decompressed cap as the stream. */
function inflateSmall(compressed: Buffer, limits: BodyLimits): Buffer {
  try {
    return zlib.gunzipSync(compressed, {maxOutputLength: limits.maxDecompressedBytes})
  } catch (error) {
    if ((error as {code?: string}).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('decompressed body', limits.maxDecompressedBytes)
    throw error
  }
}

async function inflateStream(source: Readable, limits: BodyLimits): Promise<Buffer> {
  const chunks: Buffer[] = []
  const collect = new Transform({
    transform(chunk: Buffer, _e, callback) {
      chunks.push(chunk)
      callback()
    },
  })
  await pipeline(source, new ByteCap(limits.maxCompressedBytes, 'compressed body'), zlib.createGunzip(), new ByteCap(limits.maxDecompressedBytes, 'decompressed body'), collect)
  return Buffer.concat(chunks)
}

/** Read and decode a gzip JSON body from a stream (an HTTP request or response). */
export async function decodeBody<T = unknown>(source: Readable, encoding: string | undefined, limits: BodyLimits = DEFAULT_LIMITS): Promise<T> {
  if (encoding !== CONTENT_ENCODING) {
    source.resume()
    throw notGzip(encoding)
  }

  let inflated: Buffer
  try {
    const head = await readHead(source, Math.min(SMALL_BODY_BYTES, limits.maxCompressedBytes))
    inflated = head.ended ? inflateSmall(Buffer.concat(head.chunks), limits) : await inflateStream(source, limits)
  } catch (error) {
    throw corrupt(error)
  }

  return parseJson<T>(inflated)
}

/**
 * Decode a gzip JSON body already read whole (HttpSession's replies, whose size was checked against
 * the compressed cap from their Content-Length). A large one is inflated off the event loop.
 */
export async function decodeWholeBody<T = unknown>(compressed: Buffer, encoding: string | undefined, limits: BodyLimits = DEFAULT_LIMITS): Promise<T> {
  if (encoding !== CONTENT_ENCODING) throw notGzip(encoding)
  if (compressed.length > limits.maxCompressedBytes) throw tooLarge('compressed body', limits.maxCompressedBytes)
  let inflated: Buffer
  try {
    inflated = compressed.length <= SMALL_BODY_BYTES ? inflateSmall(compressed, limits) : await gunzipAsync(compressed, limits)
  } catch (error) {
    throw corrupt(error)
  }

  return parseJson<T>(inflated)
}

function gunzipAsync(compressed: Buffer, limits: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.gunzip(compressed, {maxOutputLength: limits.maxDecompressedBytes}, (error, inflated) => {
      if (!error) resolve(inflated)
      else reject((error as {code?: string}).code === 'ERR_BUFFER_TOO_LARGE' ? tooLarge('decompressed body', limits.maxDecompressedBytes) : error)
    })
  })
}

function notGzip(encoding: string | undefined): TetherError {
  return new TetherError('usage', 'body-not-gzip', `the body must be gzip-compressed (Content-Encoding: gzip), got ${encoding ?? 'none'}`)
}

function corrupt(error: unknown): TetherError {
  if (error instanceof TetherError) return error
  const code = (error as {code?: string}).code
  return new TetherError('usage', 'body-corrupt', `the body is not valid gzip (${code === 'Z_BUF_ERROR' ? 'truncated stream' : (error as Error).message})`, {cause: error})
}

function parseJson<T>(inflated: Buffer): T {
  const text = inflated.toString('utf8')
  try {
    return JSON.parse(text) as T
  } catch (error) {
    throw new TetherError('usage', 'body-not-json', 'the body is not valid JSON', {cause: error})
  }
}
