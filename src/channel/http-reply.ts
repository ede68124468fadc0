import {TetherError} from '../errors.js'
import {tooLarge} from '../protocol/codec.js'

/**
 * The reply half of an HTTP/1.1 exchange, read from the bytes of the socket, for HttpSession.
 * Node's http client costs about 0.3 ms per exchange in request, parser and stream objects
 * (`node bench/micro.js`), which is a quarter of a resumed heartbeat; a tether peer always answers
 * with a Content-Length body, so that much HTTP is read here, strictly: anything else (chunked,
 * interim 1xx, folded or duplicate framing headers, an oversized head or body) is refused, as
 * the peer may be anyone who holds the public bootstrap key.
 */

/** Node's own limit for a message head (--max-http-header-size). */
export const MAX_REPLY_HEAD_BYTES = 16 * 1024

export interface ReplyHead {
  status: number
  /** The Content-Encoding header, lower-cased, if any. */
  contentEncoding: string | undefined
  contentLength: number
  /** The peer closes after this reply (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean
}

export interface Reply {
  head: ReplyHead
  body: Buffer
  /** Bytes after the reply's end: a peer that answers what was not asked. */
  extra: number
}

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const DIGITS = /^\d{1,16}$/
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1')

export function malformedReply(detail: string): TetherError {
  return new TetherError('unreachable', 'reply-malformed', `the peer's HTTP reply is malformed: ${detail}`, {
    hint: 'the peer is not a tether agent, or a broken one; check the address',
  })
}

/** Parse a reply head (status line and headers, without the blank line). */
export function parseReplyHead(text: string, maxBodyBytes: number): ReplyHead {
  const lines = text.split('\r\n')
  const status = STATUS_LINE.exec(lines[0])
  if (!status) throw malformedReply(`the status line ${JSON.stringify(lines[0].slice(0, 80))} is not HTTP/1.x`)
  const code = Number(status[2])
  if (code < 200) throw malformedReply(`an interim ${code} reply (a tether peer never sends one)`)
  let contentLength: string | undefined
  let contentEncoding: string | undefined
  let connection = ''
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]
    const colon = line.indexOf(':')
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) throw malformedReply(`the header line ${JSON.stringify(line.slice(0, 80))} is not name: value`)
    const name = line.slice(0, colon).toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'content-length') {
      if (contentLength !== undefined) throw malformedReply('Content-Length is given twice')
      contentLength = value
    } else if (name === 'transfer-encoding') {
      throw malformedReply(`Transfer-Encoding ${value} (a tether peer sends a Content-Length body)`)
    } else if (name === 'content-encoding') {
      if (contentEncoding !== undefined) throw malformedReply('Content-Encoding is given twice')
      contentEncoding = value.toLowerCase()
    } else if (name === 'connection') {
      connection += `,${value.toLowerCase()}`
    }
  }

  if (contentLength === undefined || !DIGITS.test(contentLength)) throw malformedReply(contentLength === undefined ? 'no Content-Length' : `Content-Length ${JSON.stringify(contentLength.slice(0, 40))} is not a number`)
  const length = Number(contentLength)
  if (length > maxBodyBytes) throw tooLarge('compressed body', maxBodyBytes)

  const tokens = connection.split(',').map((token) => token.trim())
  const close = tokens.includes('close') || (status[1] === '0' && !tokens.includes('keep-alive'))
  return {status: code, contentEncoding, contentLength: length, close}
}

/**
 * One reply, fed the socket's chunks as they come: `push` returns the reply once its body is
 * complete, or undefined while more is needed; it throws on a malformed or oversized reply.
 */
export class ReplyReader {
  private chunks: Buffer[] = []
  private bytes = 0
  private head: ReplyHead | undefined
  private headBytes = 0

  constructor(private readonly maxBodyBytes: number) {}

  push(chunk: Buffer): Reply | undefined {
    this.chunks.push(chunk)
    this.bytes += chunk.length
    if (!this.head) {
      const all = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks)
      this.chunks = [all]
      // The blank line may straddle chunks: search from just before this chunk.
      const end = all.indexOf(HEAD_END, Math.max(0, all.length - chunk.length - 3))
      if (end < 0) {
        if (all.length > MAX_REPLY_HEAD_BYTES) throw malformedReply(`its head exceeds ${MAX_REPLY_HEAD_BYTES} bytes`)
        return undefined
      }

      if (end + 4 > MAX_REPLY_HEAD_BYTES) throw malformedReply(`its head exceeds ${MAX_REPLY_HEAD_BYTES} bytes`)
      this.head = parseReplyHead(all.toString('latin1', 0, end), this.maxBodyBytes)
      this.headBytes = end + 4
    }

    const wanted = this.headBytes + this.head.contentLength
    if (this.bytes < wanted) return undefined
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks)
    this.chunks = []
    return {head: this.head, body: all.subarray(this.headBytes, wanted), extra: all.length - wanted}
  }
}
