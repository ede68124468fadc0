import {TetherError} from '../errors.js'

/**
 * Just enough DER (and BER, for envelopes streamed by other tools) to walk and build CMS
 * structures on Buffers. Large payloads stay zero-copy slices; no binary-string detours.
 */

export interface Node {
  /** The identifier octet (class, constructed bit, tag number < 31). */
  tag: number
  /** The full encoding, header included. */
  raw: Buffer
  /** The contents (for indefinite-length encodings, without the end-of-contents octets). */
  value: Buffer
  constructed: boolean
}

export const TAG = {
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONTEXT_0: 0xa0,
  CONTEXT_1: 0xa1,
  CONTEXT_2: 0xa2,
  CONTEXT_PRIMITIVE_0: 0x80,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
} as const

function malformed(what: string): TetherError {
  return new TetherError('usage', 'malformed-der', `malformed ASN.1: ${what}`)
}

/** CMS and X.509 nest a dozen levels deep; BER's indefinite lengths are walked recursively, so cap it. */
const MAX_INDEFINITE_DEPTH = 64

/** Read one TLV at `offset`. */
export function readNode(buffer: Buffer, offset = 0, depth = 0): Node {
  if (offset + 2 > buffer.length) throw malformed('truncated header')
  const tag = buffer[offset]
  if ((tag & 0x1f) === 0x1f) throw malformed('high tag numbers are not used in CMS')
  const constructed = (tag & 0x20) !== 0
  let length = buffer[offset + 1]
  let headerLength = 2
  if (length === 0x80) {
    // Indefinite length (BER): contents run until the matching end-of-contents (00 00).
    if (!constructed) throw malformed('indefinite length on a primitive')
    if (depth >= MAX_INDEFINITE_DEPTH) throw malformed(`indefinite lengths nested more than ${MAX_INDEFINITE_DEPTH} deep`)
    let cursor = offset + 2
    while (!(buffer[cursor] === 0 && buffer[cursor + 1] === 0)) {
      if (cursor >= buffer.length) throw malformed('missing end-of-contents')
      cursor += readNode(buffer, cursor, depth + 1).raw.length
    }

    return {tag, constructed, raw: buffer.subarray(offset, cursor + 2), value: buffer.subarray(offset + 2, cursor)}
  }

  if (length & 0x80) {
    const count = length & 0x7f
    if (count > 4) throw malformed('length too large')
    // Without this a cut-off length reads as NaN, an empty node, and children() loops forever.
    if (offset + 2 + count > buffer.length) throw malformed('truncated length')
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + buffer[offset + 2 + i]
    headerLength += count
  }

  const end = offset + headerLength + length
  if (end > buffer.length) throw malformed('truncated contents')
  return {tag, constructed, raw: buffer.subarray(offset, end), value: buffer.subarray(offset + headerLength, end)}
}

/** The children of a constructed node. */
export function children(node: Node): Node[] {
  if (!node.constructed) throw malformed('expected a constructed value')
  const out: Node[] = []
  let offset = 0
  while (offset < node.value.length) {
    const child = readNode(node.value, offset)
    out.push(child)
    offset += child.raw.length
  }

  return out
}

export function expectTag(node: Node | undefined, tag: number, what: string): Node {
  if (!node || node.tag !== tag) throw malformed(`expected ${what}`)
  return node
}

/** An OCTET STRING's bytes, also when BER splits it into constructed segments. */
export function octets(node: Node): Buffer {
  if (!node.constructed) return node.value
  return Buffer.concat(children(node).map((child) => octets(child)))
}

export function decodeOid(node: Node): string {
  return decodeOidBytes(expectTag(node, TAG.OID, 'an object identifier').value)
}

/** An OBJECT IDENTIFIER's contents (without tag and length) in dotted form; arcs of any size (2.25 UUID arcs are 128 bits). */
export function decodeOidBytes(bytes: Buffer): string {
  const parts: bigint[] = []
  let value = 0n
  for (const byte of bytes) {
    value = value * 128n + BigInt(byte & 0x7f)
    if (!(byte & 0x80)) {
      parts.push(value)
      value = 0n
    }
  }

  if (parts.length === 0) return ''
  // The first subidentifier packs the first two arcs: 40 * first + second (first is 0, 1 or 2).
  const first = parts[0] < 80n ? parts[0] / 40n : 2n
  return [first, parts[0] - first * 40n, ...parts.slice(1)].join('.')
}

// --- writing (DER) ---

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length])
  const bytes: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

export function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents)
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body])
}

export function encodeOid(oid: string): Buffer {
  const parts = oid.split('.').map((part) => BigInt(part))
  const bytes: number[] = []
  for (const part of [parts[0] * 40n + parts[1], ...parts.slice(2)]) {
    const chunk = [Number(part & 0x7fn)]
    for (let n = part >> 7n; n > 0n; n >>= 7n) chunk.unshift(Number(n & 0x7fn) | 0x80)
    bytes.push(...chunk)
  }

  return tlv(TAG.OID, Buffer.from(bytes))
}

export const integer = (value: number) => tlv(TAG.INTEGER, Buffer.from([value]))
export const sequence = (...items: Buffer[]) => tlv(TAG.SEQUENCE, ...items)

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
export function encodeTime(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14)
  return date.getUTCFullYear() < 2050 ? tlv(TAG.UTC_TIME, Buffer.from(`${iso.slice(2)}Z`)) : tlv(TAG.GENERALIZED_TIME, Buffer.from(`${iso}Z`))
}

/** A UTCTime or GeneralizedTime (the forms RFC 5280 allows: seconds, Z). */
export function decodeTime(node: Node): Date {
  const text = node.value.toString('latin1')
  const match = node.tag === TAG.UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : node.tag === TAG.GENERALIZED_TIME ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null
  if (!match) throw malformed('expected a UTC or generalized time')
  const year = node.tag === TAG.UTC_TIME ? (Number(match[1]) < 50 ? 2000 : 1900) + Number(match[1]) : Number(match[1])
  return new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])))
}

/** A non-negative INTEGER from upper-case hex (a certificate serial). */
export function integerFromHex(hex: string): Buffer {
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex')
  while (bytes.length > 1 && bytes[0] === 0 && !(bytes[1] & 0x80)) bytes = bytes.subarray(1)
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes])
  return tlv(TAG.INTEGER, bytes)
}

/** An INTEGER's value as upper-case hex without leading zero bytes (as X509Certificate.serialNumber gives it). */
export function hexFromInteger(node: Node): string {
  let bytes = expectTag(node, TAG.INTEGER, 'an integer').value
  while (bytes.length > 1 && bytes[0] === 0) bytes = bytes.subarray(1)
  return bytes.toString('hex').toUpperCase()
}
