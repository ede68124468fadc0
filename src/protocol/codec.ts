import {Readable, Transform, TransformCallback} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import zlib from 'node:zlib'

import {TetherError} from '../errors.js'

/**
 * Every body between manager and agent is JSON, gzip-compressed (`Content-Encoding: gzip`).
 * Decoding is streamed with hard caps on both the compressed and the decompressed size, so a gzip
 * bomb or an endless body is a clear protocol error rather than an out-of-memory.
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

export function encodeBody(value: unknown): Buffer {
  return zlib.gzipSync(Buffer.from(JSON.stringify(value ?? {}), 'utf8'), {level: 6})
}

class ByteCap extends Transform {
  private seen = 0
  constructor(private readonly limit: number, private readonly what: string) {
    super()
  }

  _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.limit) {
      callback(new TetherError('refused', 'body-too-large', `the ${this.what} size exceeds the limit of ${this.limit} bytes`, {
        hint: 'the peer sent more than a tether message may hold (a decompression bomb or a broken peer)',
      }))
      return
    }

    callback(null, chunk)
  }
}

/** Read and decode a gzip JSON body from a stream (an HTTP request or response). */
export async function decodeBody<T = unknown>(source: Readable, encoding: string | undefined, limits: BodyLimits = DEFAULT_LIMITS): Promise<T> {
  if (encoding !== CONTENT_ENCODING) {
    source.resume()
    throw new TetherError('usage', 'body-not-gzip', `the body must be gzip-compressed (Content-Encoding: gzip), got ${encoding ?? 'none'}`)
  }

  const chunks: Buffer[] = []
  const collect = new Transform({
    transform(chunk: Buffer, _e, callback) {
      chunks.push(chunk)
      callback()
    },
  })
  try {
    await pipeline(source, new ByteCap(limits.maxCompressedBytes, 'compressed body'), zlib.createGunzip(), new ByteCap(limits.maxDecompressedBytes, 'decompressed body'), collect)
  } catch (error) {
    if (error instanceof TetherError) throw error
    const code = (error as {code?: string}).code
    throw new TetherError('usage', 'body-corrupt', `the body is not valid gzip (${code === 'Z_BUF_ERROR' ? 'truncated stream' : (error as Error).message})`, {cause: error})
  }

  const text = Buffer.concat(chunks).toString('utf8')
  try {
    return JSON.parse(text) as T
  } catch (error) {
    throw new TetherError('usage', 'body-not-json', 'the body is not valid JSON', {cause: error})
  }
}
