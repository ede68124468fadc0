import crypto from 'node:crypto'

import type {TlsRecord} from './records.js'

/**
 * TLS 1.3 record protection (RFC 8446 sections 5.2, 5.3, 7.1, 7.3): everything after ServerHello
 * is encrypted, so the handshake records are opened with the handshake traffic secrets the TLS
 * socket hands out through its `keylog` event.
 */

interface Tls13Suite {
  aead: crypto.CipherGCMTypes | 'chacha20-poly1305'
  hash: string
  keyLength: number
}

const TLS13_SUITES: Record<number, Tls13Suite> = {
  0x13_01: {aead: 'aes-128-gcm', hash: 'sha256', keyLength: 16}, // TLS_AES_128_GCM_SHA256
  0x13_02: {aead: 'aes-256-gcm', hash: 'sha384', keyLength: 32}, // TLS_AES_256_GCM_SHA384
  0x13_03: {aead: 'chacha20-poly1305', hash: 'sha256', keyLength: 32}, // TLS_CHACHA20_POLY1305_SHA256
}

function hkdfExpandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'latin1')
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, fullLabel.length]), fullLabel, Buffer.from([0])])
  const blocks: Buffer[] = []
  let previous = Buffer.alloc(0)
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    previous = crypto.createHmac(hash, secret).update(Buffer.concat([previous, info, Buffer.from([i])])).digest()
    blocks.push(previous)
  }

  return Buffer.concat(blocks).subarray(0, length)
}

export class RecordDecrypter {
  private sequence = 0n
  private readonly key: Buffer
  private readonly iv: Buffer

  constructor(private readonly suite: Tls13Suite, secret: Buffer) {
    this.key = hkdfExpandLabel(suite.hash, secret, 'key', suite.keyLength)
    this.iv = hkdfExpandLabel(suite.hash, secret, 'iv', 12)
  }

  /** The cipher suite's decrypter, or undefined when the suite is not a TLS 1.3 one. */
  static forSuite(cipherSuite: number, secret: Buffer): RecordDecrypter | undefined {
    const suite = TLS13_SUITES[cipherSuite]
    return suite ? new RecordDecrypter(suite, secret) : undefined
  }

  /** The inner plaintext's content type and content; throws if the record does not authenticate. */
  open(record: TlsRecord): {type: number; content: Buffer} {
    const nonce = Buffer.from(this.iv)
    for (let i = 0; i < 8; i++) nonce[11 - i] ^= Number((this.sequence >> BigInt(8 * i)) & 0xffn)
    this.sequence++
    if (record.body.length < 16) throw new Error('TLS 1.3 record shorter than its tag')
    const tag = record.body.subarray(record.body.length - 16)
    const decipher = crypto.createDecipheriv(this.suite.aead as crypto.CipherGCMTypes, this.key, nonce, {authTagLength: 16})
    decipher.setAAD(record.header)
    decipher.setAuthTag(tag)
    const inner = Buffer.concat([decipher.update(record.body.subarray(0, record.body.length - 16)), decipher.final()])
    let end = inner.length - 1
    while (end >= 0 && inner[end] === 0) end--
    if (end < 0) throw new Error('empty TLS 1.3 inner plaintext')
    return {type: inner[end], content: inner.subarray(0, end)}
  }
}

/** `SECRET_LABEL <client_random> <secret>` lines, as the `keylog` event emits them (NSS key log format). */
export function parseKeyLog(lines: Buffer[]): Map<string, Buffer> {
  const secrets = new Map<string, Buffer>()
  for (const line of lines) {
    const [label, , secret] = line.toString('latin1').trim().split(' ')
    if (label && secret) secrets.set(label, Buffer.from(secret, 'hex'))
  }

  return secrets
}
