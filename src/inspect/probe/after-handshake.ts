import type tls from 'node:tls'

import {HttpSession} from '../../channel/http-session.js'
import type {TetherError} from '../../errors.js'
import {bodyLimitsFor} from '../../protocol/codec.js'
import type {AgentAnswer} from '../types.js'
import type {Aftermath, TlsError} from './connection.js'

/** What the peer does once the handshake is done: the only place it can still refuse our certificate. */

/**
 * TLS 1.3 moves the server's verdict on our certificate after our Finished: a refusal arrives as
 * an alert or a close once the client already counts the handshake as done. Wait for it.
 */
export async function settle(socket: tls.TLSSocket, ms: number): Promise<Aftermath> {
  return new Promise((resolve) => {
    const done = (outcome: Aftermath) => {
      clearTimeout(timer)
      socket.removeAllListeners('data')
      resolve(outcome)
    }

    const timer = setTimeout(() => done({outcome: 'quiet'}), ms)
    socket.on('data', () => done({outcome: 'accepted'}))
    socket.once('error', (error: TlsError) => done({outcome: 'refused', error}))
    socket.once('end', () => done({outcome: 'refused'}))
    socket.once('close', () => done({outcome: 'refused'}))
  })
}

type HostInfoBody = Record<string, unknown> & {error?: {code?: string; message?: string}}

/** Ask a tether agent GetHostInfo (read-only, served in every context): does it accept us, and as what? */
export async function askAgent(socket: tls.TLSSocket, timeoutMs: number): Promise<{answer: AgentAnswer; after: Aftermath}> {
  // Whatever answers a probe proved nothing yet: the small body caps.
  const session = new HttpSession(socket, bodyLimitsFor('unauthenticated'))
  try {
    const reply = await session.call<HostInfoBody>('GetHostInfo', {}, {timeoutMs})
    // An answer, even a refusal, means the TLS session (and our certificate) was accepted.
    return {answer: hostInfoAnswer(reply.status, reply.body ?? {}), after: {outcome: 'accepted'}}
  } catch (error) {
    const cause = ((error as TetherError).cause ?? error) as TlsError
    return {answer: {command: 'GetHostInfo', error: {message: cause.message}}, after: {outcome: 'refused', error: cause}}
  } finally {
    session.close()
  }
}

function hostInfoAnswer(status: number, body: HostInfoBody): AgentAnswer {
  if (status !== 200) return {command: 'GetHostInfo', status, error: {code: body.error?.code, message: body.error?.message ?? `HTTP ${status}`}}
  return {
    command: 'GetHostInfo',
    status: 200,
    hostname: String(body.hostname ?? ''),
    state: String(body.state ?? ''),
    clock: body.clock ? String(body.clock) : undefined,
    certificateSha256: body.certificateSha256 ? String(body.certificateSha256) : undefined,
  }
}
