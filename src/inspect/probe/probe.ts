import crypto from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'

import {TLS_POLICY} from '../../channel/tls.js'
import type {Perspective} from '../identity.js'
import {classify} from '../perspective.js'
import {DEFAULT_SETTLE_MS, DEFAULT_TIMEOUT_MS, type InspectRequest} from '../types.js'
import {analyzeHandshake} from '../wire/analyze.js'
import {WireTap} from '../wire/tap.js'
import {askAgent, settle} from './after-handshake.js'
import {type Connection, type TlsError, snapshot} from './connection.js'
import type {KeyLogSink} from './keylog.js'

/**
 * The connection itself: TCP, then TLS over a wire tap, then whatever tells whether the peer
 * accepts us. It never rejects the peer by itself (rejectUnauthorized: false) so the peer's chain
 * is always captured; the verdicts are computed afterwards from what the handshake showed.
 */

export interface Target {
  host: string
  port: number
  /** HOST:PORT, as reports name it. */
  where: string
}

export type ProbeOptions = Pick<InspectRequest, 'servername' | 'alpn' | 'handshakeOnly' | 'timeoutMs' | 'settleMs'>

/** Connect, handshake, learn whether the peer accepts us, hang up. Failures are recorded in the connection, not thrown. */
export async function probe(target: Target, perspective: Perspective, options: ProbeOptions, keyLog?: KeyLogSink): Promise<Connection> {
  const connection: Connection = {keyLog: [], sessionTickets: 0}
  let raw: net.Socket
  try {
    raw = await tcpConnect(target, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  } catch (error) {
    return {...connection, error: error as TlsError, stage: 'tcp-connect'}
  }

  const socket = await handshake(raw, connection, perspective, target, options, keyLog)
  if (!socket) return connection
  await awaitVerdictOnUs(socket, connection, perspective, options)
  socket.destroy()
  return connection
}

async function tcpConnect({host, port}: Target, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({host, port})
    const timer = setTimeout(() => {
      raw.destroy()
      reject(Object.assign(new Error(`connect ETIMEDOUT ${host}:${port}`), {code: 'ETIMEDOUT'}))
    }, timeoutMs)
    raw.once('connect', () => {
      clearTimeout(timer)
      resolve(raw)
    })
    raw.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

/** The TLS handshake over a tap of the raw socket; the established socket, or undefined (stage tls-handshake) when it failed. */
async function handshake(raw: net.Socket, connection: Connection, perspective: Perspective, target: Target, options: ProbeOptions, keyLog?: KeyLogSink): Promise<tls.TLSSocket | undefined> {
  connection.tap = new WireTap(raw)
  const socket = tls.connect({
    ...TLS_POLICY,
    socket: connection.tap,
    cert: perspective.identity?.pem,
    key: perspective.identity?.keyPem,
    ca: perspective.anchor?.pem,
    rejectUnauthorized: false,
    // tether pins identities by CA and fingerprint, not by DNS name (see channel/tls.ts).
    checkServerIdentity: () => undefined,
    servername: options.servername ?? (net.isIP(target.host) ? undefined : target.host),
    ALPNProtocols: options.alpn?.length ? options.alpn : undefined,
  })
  socket.on('keylog', (line: Buffer) => {
    connection.keyLog.push(Buffer.from(line))
    keyLog?.write(line)
  })
  socket.on('session', () => connection.sessionTickets++)
  const established = await settled(socket, connection, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  // A late error must not crash the probe: it is recorded where it matters.
  socket.on('error', () => undefined)
  if (established) return socket
  connection.stage = 'tls-handshake'
  socket.destroy()
  return undefined
}

/** Wait for the handshake to finish (snapshot taken) or fail (error recorded). */
async function settled(socket: tls.TLSSocket, connection: Connection, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      connection.error = Object.assign(new Error(`no TLS handshake within ${timeoutMs} ms`), {code: 'ETIMEDOUT'})
      resolve(false)
    }, timeoutMs)
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      connection.snapshot = snapshot(socket)
      resolve(true)
    })
    socket.once('error', (error: TlsError) => {
      clearTimeout(timer)
      connection.error = error
      resolve(false)
    })
    socket.once('close', () => {
      clearTimeout(timer)
      if (!connection.snapshot) connection.error ??= Object.assign(new Error('the peer closed the connection during the handshake'), {code: 'ECONNRESET'})
      resolve(false)
    })
  })
}

/**
 * Learn whether the peer accepts us. The manager is the HTTP client of an agent: asking a tether
 * agent GetHostInfo is in role, read-only, and the only way to learn whether it accepts us (a
 * binding is checked after the handshake). Otherwise, TLS 1.3 only, wait for a refusal.
 */
async function awaitVerdictOnUs(socket: tls.TLSSocket, connection: Connection, perspective: Perspective, options: ProbeOptions): Promise<void> {
  const leaf = connection.snapshot!.chain[0]
  const kind = classify(leaf ? new crypto.X509Certificate(leaf) : undefined, perspective)
  const peerIsAgent = kind === 'bootstrap' || (kind === 'own-agent' && perspective.as !== 'agent')
  if (peerIsAgent && perspective.as !== 'agent' && !options.handshakeOnly) {
    const {answer, after} = await askAgent(socket, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    connection.answer = answer
    connection.after = after
  } else if (connection.snapshot!.protocol === 'TLSv1.3' && analyzeHandshake(connection.tap!, connection.keyLog).certificateRequested !== false) {
    connection.after = await settle(socket, options.settleMs ?? DEFAULT_SETTLE_MS)
  }
}
