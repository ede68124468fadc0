/**
 * TLS framing, read from captured bytes: records (RFC 8446 section 5.1, the same in TLS 1.2) and
 * the handshake messages inside them (section 4), and a cursor over their length-prefixed vectors.
 * Every reader stops at a short buffer instead of reading past it.
 */

export const RECORD = {changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23} as const
export const HANDSHAKE = {serverHello: 2, certificate: 11, certificateRequest: 13, serverHelloDone: 14, clientKeyExchange: 16, finished: 20} as const

export interface TlsRecord {
  type: number
  header: Buffer
  body: Buffer
}

/** The complete records at the start of `stream`; a truncated last record is left out. */
export function splitRecords(stream: Buffer): TlsRecord[] {
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

export interface HandshakeMessage {
  type: number
  body: Buffer
}

/** Handshake messages can span records and several can share one: reassemble, then split. */
export class HandshakeReader {
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

  find(type: number): HandshakeMessage | undefined {
    return this.messages.find((m) => m.type === type)
  }
}

/** Reads the fixed fields and `<length><bytes>` vectors of a handshake message; throws when one runs past the end. */
export class Cursor {
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

  skip(bytes: number): void {
    this.offset += bytes
  }

  /** `(type, data)` pairs of an extensions block (RFC 8446 section 4.2). */
  extensions(): Array<{type: number; data: Buffer}> {
    const block = new Cursor(this.vector(2))
    const out: Array<{type: number; data: Buffer}> = []
    while (block.remaining > 0) out.push({type: block.u16(), data: block.vector(2)})
    return out
  }
}
