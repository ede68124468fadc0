import type {Duplex} from 'node:stream'

import {TetherError} from '../errors.js'
import {CONTENT_ENCODING, CONTENT_TYPE, DEFAULT_LIMITS, BodyLimits, decodeWholeBody, encodeBody} from '../protocol/codec.js'
import {ReplyHead, ReplyReader} from './http-reply.js'
import {CommandName, Reply, Request, errorFromReply, parseReply} from '../protocol/messages.js'

/**
 * The manager's side of a command session: HTTP/1.1 requests sent one after another over one
 * already-established TLS socket, whichever side opened the TCP connection. (In agent-initiated
 * mode the socket is the manager's *server* end; HTTP does not care.)
 */

export interface CommandReply<T> {
  status: number
  body: T
}

/** How long a command waits for its reply, unless told otherwise. */
export const COMMAND_TIMEOUT_MS = 30_000

/** What a command session is used for: commands, then close (a session relayed from another process too). */
export type CommandSession = Pick<HttpSession, 'command' | 'close'>

/** What a peer that closed mid-exchange looks like (as Node's http client reported it). */
function hangUp(): Error {
  return Object.assign(new Error('socket hang up'), {code: 'ECONNRESET'})
}

interface InFlight {
  command: string
  reader: ReplyReader
  timer: NodeJS.Timeout
  resolve(reply: {head: ReplyHead; body: Buffer}): void
  reject(error: Error): void
}

export class HttpSession {
  private closed = false
  /** The end of the request in flight: requests go one after another over the one socket. */
  private previous: Promise<unknown> = Promise.resolve()
  private inFlight: InFlight | undefined
  private listening = false

  constructor(private readonly socket: Duplex, private readonly limits: BodyLimits = DEFAULT_LIMITS) {}

  async call<T = Record<string, unknown>>(command: string, body: unknown = {}, options: {timeoutMs?: number} = {}): Promise<CommandReply<T>> {
    if (this.closed) throw new TetherError('unreachable', 'session-closed', 'the command session is closed')
    const turn = this.previous.catch(() => undefined).then(() => this.exchange<T>(command, body, options))
    this.previous = turn
    return turn
  }

  /**
   * One request written over the session's socket and its reply read from it (http-reply.ts), with
   * `Connection: keep-alive` for the next request: one write, one parse, no request, parser or
   * stream objects.
   */
  private async exchange<T>(command: string, body: unknown, options: {timeoutMs?: number}): Promise<CommandReply<T>> {
    if (this.closed || this.socket.destroyed) throw new TetherError('unreachable', 'session-closed', 'the agent closed the command session')
    const payload = encodeBody(body)
    this.listen()
    const {head, body: compressed} = await new Promise<{head: ReplyHead; body: Buffer}>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS
      // Reset by every chunk of the reply: a slow large body is not a silent peer.
      const timer = setTimeout(() => this.fail(new TetherError('unreachable', 'command-timeout', `the agent did not answer ${command} in time`)), timeoutMs)
      this.inFlight = {command, reader: new ReplyReader(this.limits.maxCompressedBytes), timer, resolve, reject}
      const requestHead = `POST /${command} HTTP/1.1\r\nhost: agent\r\ncontent-type: ${CONTENT_TYPE}\r\ncontent-encoding: ${CONTENT_ENCODING}\r\naccept-encoding: ${CONTENT_ENCODING}\r\ncontent-length: ${payload.length}\r\nconnection: keep-alive\r\n\r\n`
      this.socket.write(Buffer.concat([Buffer.from(requestHead, 'latin1'), payload]))
    })
    return {status: head.status, body: await decodeWholeBody<T>(compressed, head.contentEncoding, this.limits)}
  }

  /** The socket's listeners, for the session's life: a byte that arrives with nothing asked is a broken peer. */
  private listen(): void {
    if (this.listening) return
    this.listening = true
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    this.socket.on('error', (error: Error) => this.fail(error))
    this.socket.on('end', () => this.fail(hangUp()))
    this.socket.on('close', () => this.fail(hangUp()))
  }

  private onData(chunk: Buffer): void {
    const flight = this.inFlight
    if (!flight) {
      this.socket.destroy()
      return
    }

    flight.timer.refresh()
    let reply
    try {
      reply = flight.reader.push(chunk)
    } catch (error) {
      this.fail(error as Error)
      return
    }

    if (!reply) return
    this.inFlight = undefined
    clearTimeout(flight.timer)
    flight.resolve(reply)
    // Bytes nobody asked for, or a peer that said it closes: the session ends here.
    if (reply.extra > 0 || reply.head.close) this.close()
  }

  /** The exchange in flight fails (a TetherError as it is; a socket error as session-broken) and the socket goes. */
  private fail(error: Error): void {
    const flight = this.inFlight
    this.inFlight = undefined
    if (flight) {
      clearTimeout(flight.timer)
      flight.reject(error instanceof TetherError ? error : new TetherError('unreachable', 'session-broken', `the command session broke during ${flight.command}: ${error.message}`, {cause: error}))
    }

    this.socket.destroy()
  }

  /**
   * A command: the reply is checked against the protocol's schema for it, and an error reply
   * becomes the error the agent described.
   */
  async command<N extends CommandName>(name: N, body?: Request<N>): Promise<Reply<N>> {
    const reply = await this.call(name, body ?? {})
    if (reply.status !== 200) throw errorFromReply(name, reply.status, reply.body)
    return parseReply(name, reply.body)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
  }
}
