import net from 'node:net'
import tls from 'node:tls'

import {TetherError} from '../errors.js'
import {LruCache} from '../platform/lru-cache.js'
import {classifyTlsError} from './journal.js'
import {ProxyTarget, connectThroughProxy} from './proxy.js'
import {TLS_POLICY} from './tls.js'

export type {ProxyTarget} from './proxy.js'

/** Open a TLS client connection, turning every failure into a TetherError with a stable reason. */

export interface ConnectOptions {
  host: string
  port: number
  cert?: string
  key?: string
  ca?: string | string[]
  rejectUnauthorized: boolean
  checkServerIdentity?: tls.ConnectionOptions['checkServerIdentity']
  servername?: string
  timeoutMs?: number
  /** Reach host:port through this HTTP CONNECT proxy (dsa_control -x, -u). */
  proxy?: ProxyTarget
  /** For tests and inspection only: widen the policy (e.g. force an old version). */
  overrides?: Partial<tls.ConnectionOptions>
}

/**
 * Client SecureContexts by what they are made of (policy, certificate chain, key, CAs, CRLs):
 * building one parses the key and certificates again, ~1.7 ms, at every connection otherwise. A
 * context is a function of these alone, so one made from the same PEMs is the same; new
 * credentials (a renewal, a CA rotation, a new CRL) are other PEMs, hence another context. Bounded:
 * the least recently used goes first.
 */
const contexts = new LruCache<string, tls.SecureContext>(16)

type ContextInputs = Pick<ConnectOptions, 'cert' | 'key' | 'ca'> & {crl?: string | string[]}

function secureContextFor(inputs: ContextInputs): tls.SecureContext {
  const list = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join('\u0001') : (value ?? ''))
  const key = [inputs.cert ?? '', inputs.key ?? '', list(inputs.ca), list(inputs.crl)].join('\u0000')
  const kept = contexts.get(key)
  if (kept) return kept
  const context = tls.createSecureContext({...TLS_POLICY, cert: inputs.cert, key: inputs.key, ca: inputs.ca, ...(inputs.crl ? {crl: inputs.crl} : {})})
  contexts.set(key, context)
  return context
}

/** A kept context for these options, or undefined when they widen the policy beyond a CRL (tests only). */
function keptContext(options: ConnectOptions): tls.SecureContext | undefined {
  const {crl, ...others} = options.overrides ?? {}
  if (Object.keys(others).length > 0) return undefined
  if (crl !== undefined && typeof crl !== 'string' && !(Array.isArray(crl) && crl.every((c) => typeof c === 'string'))) return undefined
  return secureContextFor({cert: options.cert, key: options.key, ca: options.ca, crl: crl as string | string[] | undefined})
}

export async function connectTls(options: ConnectOptions): Promise<tls.TLSSocket> {
  const where = `${options.host}:${options.port}`
  const tunnel = options.proxy ? await connectThroughProxy(options.proxy, options.host, options.port, options.timeoutMs ?? 10_000) : undefined
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const secureContext = keptContext(options)
    const socket = tls.connect({
      ...(secureContext ? {secureContext} : {...TLS_POLICY, cert: options.cert, key: options.key, ca: options.ca}),
      ...(tunnel ? {socket: tunnel} : {}),
      host: options.host,
      port: options.port,
      rejectUnauthorized: options.rejectUnauthorized,
      // An explicit `checkServerIdentity: undefined` trips an internal assertion in Node 20.
      ...(options.checkServerIdentity ? {checkServerIdentity: options.checkServerIdentity} : {}),
      servername: options.servername ?? (net.isIP(options.host) ? undefined : options.host),
      ...(secureContext ? {} : options.overrides),
    })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new TetherError('unreachable', 'timeout', `no TLS handshake with ${where} within ${options.timeoutMs ?? 10_000} ms`, {hint: 'check that the peer is running and reachable'}))
    }, options.timeoutMs ?? 10_000)
    // Small request/reply pairs: without this, Nagle plus delayed ACK stall each exchange ~40 ms.
    socket.setNoDelay(true)
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      resolve(socket)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      socket.destroy()
      reject(connectionError(error, where))
    })
  })
}

/** Classify a socket error: no TCP connection is `unreachable`, a refused handshake is `trust`. */
export function connectionError(error: NodeJS.ErrnoException, where: string): TetherError {
  if (error instanceof TetherError) return error
  const {reason, detail} = classifyTlsError(error)
  if (['connection-refused', 'timeout'].includes(reason) || ['ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(error.code ?? '')) {
    return new TetherError('unreachable', reason === 'tls-error' ? 'unreachable' : reason, `cannot reach ${where} (${error.code ?? detail})`, {
      hint: 'check the address and port, and that the peer is running',
      cause: error,
    })
  }

  return new TetherError('trust', reason, `TLS handshake with ${where} failed: ${detail}`, {cause: error})
}
