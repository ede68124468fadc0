import crypto from 'node:crypto'

import type {Perspective} from '../identity.js'
import {type PeerKind, type Registry, classify} from '../perspective.js'
import type {Connection, Snapshot} from '../probe/connection.js'
import type {InspectFailure, Verdict} from '../types.js'
import {type WireHandshake, analyzeHandshake} from '../wire/analyze.js'

/** Everything the verdicts judge, gathered once from the connection after it is over. */

export interface Evidence {
  perspective: Perspective
  connection: Connection
  /** Set when the handshake completed. */
  snap?: Snapshot
  wire?: WireHandshake
  /** The peer's chain: as the TLS stack saw it, else as read from the records. */
  chain: crypto.X509Certificate[]
  peer?: crypto.X509Certificate
  kind: PeerKind
  /** We had a certificate and sent it (or, not knowing, were asked for it). */
  sentOurs: boolean
  where: string
  now: Date
  settleMs: number
  registry?: Registry
}

/** A failure as a verdict finds it; the likely fix is added when the report is assembled. */
export type Finding = Omit<InspectFailure, 'fix'>

export interface Judgement {
  verdict: Verdict
  failure?: Finding
}

export function gatherEvidence(input: Pick<Evidence, 'perspective' | 'connection' | 'where' | 'now' | 'settleMs'>): Evidence {
  const {connection, perspective} = input
  // Read again now: the records after the handshake tell whether our certificate went out.
  const wire = connection.tap ? analyzeHandshake(connection.tap, connection.keyLog) : undefined
  const snap = connection.snapshot
  // The chain as Node's TLS saw it (the peer's certificates, completed from our trust store when
  // it could); from the wire when the handshake failed before Node handed it over.
  const chain = snap?.chain.length ? snap.chain.map((der) => new crypto.X509Certificate(der)) : parseable(wire?.peerCertificates ?? [])
  const sentOurs = Boolean(perspective.identity) && (wire?.clientCertificateSent ?? wire?.certificateRequested ?? false)
  return {...input, snap, wire, chain, peer: chain[0], kind: classify(chain[0], perspective), sentOurs}
}

/** The certificates read from the records, up to the first that does not parse (a broken or hostile peer's bytes). */
function parseable(ders: Buffer[]): crypto.X509Certificate[] {
  const out: crypto.X509Certificate[] = []
  for (const der of ders) {
    try {
      out.push(new crypto.X509Certificate(der))
    } catch {
      break
    }
  }

  return out
}
