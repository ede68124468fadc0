import * as v from 'valibot'

import {FailureClass, TetherError} from '../errors.js'

/**
 * The command session between manager (HTTP client) and agent (HTTP server). Each command is
 * `POST /<Name>` with a gzip-compressed JSON body, answered with a gzip-compressed JSON body. Every
 * body is checked against its schema on arrival, on both sides; the types come from the schemas.
 */

const text = (max: number) => v.pipe(v.string(), v.maxLength(max))
const PEM = text(64 * 1024)
/** A CRL grows with the revocations it lists (about 40 bytes each). */
const CRL = text(32 * 1024 * 1024)
/** A CSR is small; anything bigger is refused before it is parsed. */
export const MAX_CSR_BYTES = 16 * 1024
const SHA256 = text(128)
const STATE = v.picklist(['unactivated', 'pre-activated', 'activated'])
const MODE = v.picklist(['bidirectional', 'manager-initiated', 'agent-initiated'])
const COUNT = v.pipe(v.number(), v.integer(), v.minValue(0))

/** The `dsa_control -a dsm://HOST:PORT/ key:value ...` arguments, as the agent passes them on. */
export const ActivationRequestArgsSchema = v.object({
  hostname: v.optional(text(253)),
  displayname: v.optional(text(1024)),
  description: v.optional(text(4096)),
  group: v.optional(text(1024)),
  groupid: v.optional(text(256)),
  policy: v.optional(text(256)),
  policyid: v.optional(text(256)),
  tenantID: v.optional(text(256)),
  token: v.optional(text(1024)),
  relaygroup: v.optional(text(1024)),
  relaygroupid: v.optional(text(256)),
  relayid: v.optional(text(256)),
  externalid: v.optional(text(1024)),
})
export type ActivationRequestArgs = v.InferOutput<typeof ActivationRequestArgsSchema>
export {ACTIVATION_ARG_KEYS} from './activation-keys.js'

/** `dsa_control -m key:value ...`: what the operator asked the manager to change, told in GetAgentStatus. */
export const HeartbeatRequestSchema = v.object({
  ...v.omit(ActivationRequestArgsSchema, ['token', 'tenantID', 'hostname']).entries,
  updateConfiguration: v.optional(v.boolean()),
})
export type HeartbeatRequest = v.InferOutput<typeof HeartbeatRequestSchema>

export const HostInfoSchema = v.object({
  hostname: text(253),
  platform: text(64),
  osRelease: text(256),
  arch: text(64),
  agentVersion: text(64),
  state: STATE,
  /** The agent's clock, so the manager can refuse activation across too large a skew. */
  clock: text(64),
  certificateSha256: SHA256,
  /** Present when the agent connected to ask for activation (dsa_control -a). */
  activationRequest: v.optional(ActivationRequestArgsSchema),
})
export type HostInfo = v.InferOutput<typeof HostInfoSchema>

/** How the agent talks to its manager after activation; stored as ds_agent.comm.json. */
export const AgentCommunicationSchema = v.object({
  /** HOST:PORT of the manager's heartbeat listener; null: the agent never connects out. */
  managerAddress: v.nullable(text(300)),
  /** Every manager node's HOST:PORT (or a load balancer's), tried in turn after managerAddress when it is down. */
  managerAddresses: v.optional(v.pipe(v.array(text(300)), v.maxLength(64))),
  mode: MODE,
  heartbeatSeconds: v.pipe(v.number(), v.integer(), v.minValue(1)),
  /** The fraction of its certificate's lifetime after which the manager renews it (shown by agent status). */
  renewAfter: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1))),
})
export type AgentCommunication = v.InferOutput<typeof AgentCommunicationSchema>
const CommunicationChangeSchema = v.partial(AgentCommunicationSchema)

export const AppliedConfigurationSchema = v.object({policy: text(256), version: COUNT, sha256: SHA256, appliedAt: text(64)})

export const AgentStatusReplySchema = v.object({
  state: STATE,
  hostname: text(253),
  certificateSha256: SHA256,
  managerSha256: v.optional(SHA256),
  caSha256: v.optional(SHA256),
  /** Every CA the agent trusts (two during a CA rotation); the manager sends its set when it differs. */
  trustedCaSha256: v.optional(v.array(SHA256)),
  clock: text(64),
  configuration: v.optional(AppliedConfigurationSchema),
  /** The number of the CRL the agent holds (0: none); the manager sends a newer one. */
  crlNumber: v.optional(COUNT),
  heartbeatRequest: v.optional(HeartbeatRequestSchema),
  /** The manager heartbeat addresses the agent holds; the manager sends its list when it differs. */
  managerAddresses: v.optional(v.array(text(300))),
  /** Whether events await pickup; an agent of an earlier version does not say, and is asked. */
  eventsWaiting: v.optional(v.boolean()),
})
export type AgentStatusReply = v.InferOutput<typeof AgentStatusReplySchema>

const AgentEventSchema = v.object({id: COUNT, at: text(64), type: text(128), detail: v.record(v.string(), v.unknown())})
export const AgentEventsReplySchema = v.object({
  /** Identifies the agent's event database; with an event id, the key the manager deduplicates on. */
  instance: text(128),
  events: v.array(AgentEventSchema),
  more: v.boolean(),
})
export type AgentEventsReply = v.InferOutput<typeof AgentEventsReplySchema>

/** The manager's verdict on an agent-initiated activation, told to the agent as the last command. */
export const ActivationReportSchema = v.object({
  status: v.pipe(v.number(), v.integer()),
  reason: text(256),
  message: text(4096),
  hint: v.optional(text(4096)),
  computer: v.optional(v.object({id: COUNT, guid: text(64), hostname: text(253)})),
  /** What the manager did not apply (a policy not found...), for the operator. */
  warnings: v.optional(v.array(text(1024))),
})
export type ActivationReport = v.InferOutput<typeof ActivationReportSchema>

/** Who the manager says this computer is, sent with its configuration (sendCommand --get GetConfiguration shows it). */
export const ComputerIdentitySchema = v.object({hostId: COUNT, hostGuid: text(64), tenantId: text(64), policyId: v.optional(COUNT), policyName: v.optional(text(256))})
export type ComputerIdentity = v.InferOutput<typeof ComputerIdentitySchema>

const Empty = v.object({})
const Accepted = v.object({accepted: v.literal(true), sha256: SHA256})
const Certificate = v.object({certificate: PEM})
const CredentialsReply = v.object({state: v.literal('activated'), certificateSha256: SHA256})

/** Each command's request and reply. */
export const MESSAGES = {
  GetHostInfo: {request: Empty, reply: HostInfoSchema},
  GenerateAgentCSR: {request: v.object({commonName: v.optional(text(253)), rekey: v.optional(v.boolean()), renew: v.optional(v.boolean())}), reply: v.object({csr: v.pipe(v.string(), v.maxBytes(MAX_CSR_BYTES))})},
  SetDSMCert: {request: Certificate, reply: Accepted},
  SetDSMCACert: {request: Certificate, reply: Accepted},
  SetAgentCredentials: {request: v.object({certificate: PEM, communication: v.optional(CommunicationChangeSchema), rekey: v.optional(v.boolean()), renew: v.optional(v.boolean()), crl: v.optional(CRL)}), reply: CredentialsReply},
  GetAgentStatus: {request: Empty, reply: AgentStatusReplySchema},
  GetAgentEvents: {request: v.object({limit: v.optional(COUNT), after: v.optional(COUNT)}), reply: AgentEventsReplySchema},
  AckAgentEvents: {request: v.object({instance: text(128), through: COUNT}), reply: v.object({deleted: COUNT})},
  SetSecurityConfiguration: {request: v.object({envelope: v.string(), identity: v.optional(ComputerIdentitySchema)}), reply: AppliedConfigurationSchema},
  SetCommunication: {request: CommunicationChangeSchema, reply: AgentCommunicationSchema},
  Deactivate: {request: Empty, reply: v.object({state: v.literal('unactivated')})},
  ReportActivationResult: {request: ActivationReportSchema, reply: v.object({received: v.literal(true)})},
  SetRevocationList: {request: v.object({crl: CRL}), reply: v.object({number: COUNT})},
  /** A CA rotation: the CAs the agent trusts from now on (the old and the new, then the new). */
  SetTrustBundle: {request: Certificate, reply: v.object({trustedCaSha256: v.array(SHA256)})},
} as const

export type CommandName = keyof typeof MESSAGES
export type Request<N extends CommandName> = v.InferInput<(typeof MESSAGES)[N]['request']>
export type Reply<N extends CommandName> = v.InferOutput<(typeof MESSAGES)[N]['reply']>

/** The limited set an unactivated (bootstrap-context) agent serves: host information and activation. */
export const BOOTSTRAP_COMMANDS: ReadonlySet<CommandName> = new Set([
  'GetHostInfo',
  'GenerateAgentCSR',
  'SetDSMCert',
  'SetDSMCACert',
  'SetAgentCredentials',
  'ReportActivationResult',
])

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(MESSAGES, name)
}

function problems(issues: v.BaseIssue<unknown>[]): string {
  return issues.slice(0, 3).map((issue) => `${v.getDotPath(issue) ?? 'body'}: ${issue.message}`).join('; ')
}

/** The agent's check of what the manager sent. */
export function parseRequest<N extends CommandName>(name: N, body: unknown): v.InferOutput<(typeof MESSAGES)[N]['request']> {
  const result = v.safeParse(MESSAGES[name].request, body ?? {})
  if (!result.success) throw new TetherError('usage', 'bad-request', `${name}: the request does not match the protocol (${problems(result.issues)})`, {hint: 'the manager and agent may be different versions of tether'})
  return result.output as v.InferOutput<(typeof MESSAGES)[N]['request']>
}

/** The manager's check of what the agent answered. */
export function parseReply<N extends CommandName>(name: N, body: unknown): Reply<N> {
  const result = v.safeParse(MESSAGES[name].reply, body)
  if (!result.success) throw new TetherError('trust', 'bad-reply', `${name}: the agent's reply does not match the protocol (${problems(result.issues)})`, {hint: 'the manager and agent may be different versions of tether'})
  return result.output as Reply<N>
}

/** An error reply: the HTTP status carries the class, the body says what and what to do. */
export const ErrorReplySchema = v.object({
  error: v.object({code: text(256), class: v.string(), message: text(4096), hint: v.optional(text(4096))}),
})
export interface ErrorReply {
  error: {code: string; class: FailureClass; message: string; hint?: string}
}

const STATUS_BY_CLASS: Record<FailureClass, number> = {
  usage: 400,
  trust: 403,
  notFound: 404,
  refused: 409,
  internal: 500,
  unreachable: 503,
}

export function httpStatusFor(failure: FailureClass): number {
  return STATUS_BY_CLASS[failure]
}

/** Turn an agent's error reply back into the error it describes, on the manager's side. */
export function errorFromReply(command: string, status: number, body: unknown): TetherError {
  const parsed = v.safeParse(ErrorReplySchema, body)
  const error = parsed.success ? parsed.output.error : undefined
  const failure = error && error.class in STATUS_BY_CLASS ? (error.class as FailureClass) : 'internal'
  return new TetherError(failure, error?.code ?? `http-${status}`, error?.message ?? `${command} failed with HTTP ${status}`, {
    hint: error?.hint,
    details: {command, httpStatus: status},
  })
}
