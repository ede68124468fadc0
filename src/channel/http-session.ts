import http from 'node:http'
import type net from 'node:net'
import type {Duplex} from 'node:stream'

import {TetherError} from '../errors.js'
import {CONTENT_ENCODING, CONTENT_TYPE, DEFAULT_LIMITS, BodyLimits, decodeBody, encodeBody} from '../protocol/codec.js'
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

export class HttpSession {
  private closed = false
  /** The end of the request in flight: requests go one after another over the one socket. */
  private previous: Promise<unknown> = Promise.resolve()

  constructor(private readonly socket: Duplex, private readonly limits: BodyLimits = DEFAULT_LIMITS) {}

  async call<T = Record<string, unknown>>(command: string, body: unknown = {}, options: {timeoutMs?: number} = {}): Promise<CommandReply<T>> {
    if (this.closed) throw new TetherError('unreachable', 'session-closed', 'the command session is closed')
    const turn = this.previous.catch(() => undefined).then(() => this.exchange<T>(command, body, options))
    this.previous = turn
    return turn
  }

  /**
   * One request over the session's socket, with no http.Agent: its pool (per session, as the socket
   * is) cost more than the exchange. `Connection: keep-alive` keeps the socket for the next request.
   */
  private exchange<T>(command: string, body: unknown, options: {timeoutMs?: number}): Promise<CommandReply<T>> {
    if (this.closed || this.socket.destroyed) return Promise.reject(new TetherError('unreachable', 'session-closed', 'the agent closed the command session'))
    const payload = encodeBody(body)
    return new Promise<CommandReply<T>>((resolve, reject) => {
      const request = http.request(
        {
          createConnection: () => this.socket as unknown as net.Socket,
          method: 'POST',
          path: `/${command}`,
          host: 'agent',
          headers: {
            'content-type': CONTENT_TYPE,
            'content-encoding': CONTENT_ENCODING,
            'accept-encoding': CONTENT_ENCODING,
            'content-length': payload.length,
            connection: 'keep-alive',
          },
        },
        (response) => {
          decodeBody<T>(response, response.headers['content-encoding'], this.limits).then(
            (decoded) => resolve({status: response.statusCode ?? 0, body: decoded}),
            reject,
          )
        },
      )
      request.setTimeout(options.timeoutMs ?? COMMAND_TIMEOUT_MS, () => {
        request.destroy(new TetherError('unreachable', 'command-timeout', `the agent did not answer ${command} in time`))
      })
      request.on('error', (error) => {
        reject(error instanceof TetherError ? error : new TetherError('unreachable', 'session-broken', `the command session broke during ${command}: ${error.message}`, {cause: error}))
      })
      request.end(payload)
    })
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
