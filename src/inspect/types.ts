import type {AgentState, PeerKind} from './perspective.js'

export type {PeerKind}

/**
 * The shapes of `tether handshake inspect`: what it is asked and the report it gives (its JSON
 * form is documented in docs/json-output.md; keep the two in step).
 */

export type ProbeIdentity = 'manager' | 'agent' | 'anonymous'
export const PROBE_IDENTITIES: ProbeIdentity[] = ['manager', 'agent', 'anonymous']

export interface InspectRequest {
  /** HOST[:PORT]; the default port is the agent's (4118), or the manager's heartbeat port (4120) with --as agent. */
  target: string
  as?: ProbeIdentity
  /** The --home and --dsa-core flag values as given (undefined: not given). */
  home?: string
  dsaCore?: string
  servername?: string
  keylog?: string
  alpn?: string[]
  /** Skip the read-only GetHostInfo a tether agent is asked after the handshake. */
  handshakeOnly?: boolean
  timeoutMs?: number
  /** TLS 1.3 only: how long to wait for the peer to refuse our certificate after the handshake. */
  settleMs?: number
  env?: NodeJS.ProcessEnv
  now?: Date
}

export const DEFAULT_TIMEOUT_MS = 10_000
export const DEFAULT_SETTLE_MS = 1000

export type VerdictStatus = 'pass' | 'fail' | 'skip'

export interface Verdict {
  status: VerdictStatus
  /** Stable, machine-readable (see the README's table). */
  code: string
  detail: string
}

export type VerdictName = 'chain' | 'binding' | 'revocation' | 'clientCertificate' | 'clock'

export interface CertificateDetail {
  depth: number
  subject: string
  issuer: string
  subjectAltNames: string[]
  notBefore: string
  notAfter: string
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number
  validity: 'valid' | 'expired' | 'not-yet-valid'
  key: string
  signatureAlgorithm: string
  serial: string
  sha256: string
  isCA: boolean
  selfSigned: boolean
  /** Whether the peer sent this certificate itself (false: completed from our trust store); undefined if unknown. */
  sentByPeer?: boolean
}

export type FailureStage = 'tcp-connect' | 'tls-handshake' | 'client-certificate' | 'verification' | 'agent-answer'

export interface OpensslError {
  code?: string
  error?: string
  alert?: number
  verifyResult?: number
}

export interface InspectFailure {
  stage: FailureStage
  reason: string
  message: string
  openssl?: OpensslError
  fix: string
}

export interface AgentAnswer {
  command: 'GetHostInfo'
  status?: number
  hostname?: string
  state?: string
  clock?: string
  certificateSha256?: string
  error?: {code?: string; message: string}
}

/** The CRL this side checks peers with: the registry's current one, or the one the agent holds. */
export interface CrlStanding {
  source: string
  number: number
  thisUpdate: string
  nextUpdate?: string
  /** Whole days until nextUpdate (negative: past it; the manager issues a new one at its next contact or tick). */
  daysLeft?: number
}

export interface InspectReport {
  target: string
  as: ProbeIdentity
  /** Why this identity: given with --as, or the default and what it was based on. */
  asSource: string
  presented?: {subject: string; sha256: string; source: string}
  trust: {managerHome?: string; dsaCore?: string; agentState?: AgentState; anchor?: string; crl?: CrlStanding}
  handshake: {
    completed: boolean
    protocol?: string
    cipher?: string
    cipherStandardName?: string
    keyExchange?: {type?: string; name?: string; size?: number}
    alpn?: string | false
    resumed?: boolean
    sessionTickets: number
    servername?: string
  }
  peer: {kind: PeerKind; description: string; chainSource: 'tls' | 'wire' | 'none'; chain: CertificateDetail[]}
  clientCertificate: {requested?: boolean; acceptableCAs?: string[]; sent: boolean; accepted?: boolean}
  agentAnswer?: AgentAnswer
  verdicts: Record<VerdictName, Verdict>
  ok: boolean
  failure?: InspectFailure
  keylog?: {file: string; lines: number}
}
