import type net from 'node:net'
import {Duplex} from 'node:stream'

/** Only the handshake is needed; stop recording after this much in either direction. */
const MAX_CAPTURE_BYTES = 512 * 1024

/**
 * A pass-through stream between a TCP socket and the TLS socket that copies the raw bytes of both
 * directions. (A TLS socket built on a net.Socket reads it natively; a JS stream in between is
 * the only place to see the bytes.)
 */
export class WireTap extends Duplex {
  readonly fromPeer: Buffer[] = []
  readonly toPeer: Buffer[] = []
  private recording = true
  private captured = 0

  constructor(private readonly raw: net.Socket) {
    super()
    raw.on('data', (chunk: Buffer) => {
      this.record(this.fromPeer, chunk)
      if (!this.push(chunk)) raw.pause()
    })
    raw.once('end', () => this.push(null))
    raw.once('error', (error) => this.destroy(error))
    raw.once('close', () => {
      if (!this.destroyed) this.push(null)
    })
  }

  stopRecording(): void {
    this.recording = false
  }

  _read(): void {
    this.raw.resume()
  }

  _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.record(this.toPeer, chunk)
    if (this.raw.destroyed) {
      callback()
      return
    }

    this.raw.write(chunk, (error) => callback(error ?? null))
  }

  _final(callback: (error?: Error | null) => void): void {
    this.raw.end(() => callback())
  }

  _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.raw.destroy()
    callback(error)
  }

  private record(into: Buffer[], chunk: Buffer): void {
    if (!this.recording || this.captured > MAX_CAPTURE_BYTES) return
    this.captured += chunk.length
    into.push(Buffer.from(chunk))
  }
}
