import {FailureClass, TetherError} from '../errors.js'

/**
 * The command session between manager (HTTP client) and agent (HTTP server). Each command is
 * `POST /<Name>` with a gzip-compressed JSON body, answered with a gzip-compressed JSON body.
 */

export const COMMANDS = {
  GetHostInfo: 'GetHostInfo',
  GenerateAgentCSR: 'GenerateAgentCSR',
  SetDSMCert: 'SetDSMCert',
  SetDSMCACert: 'SetDSMCACert',
  SetAgentCredentials: 'SetAgentCredentials',
  GetAgentStatus: 'GetAgentStatus',
  GetAgentEvents: 'GetAgentEvents',
  SetSecurityConfiguration: 'SetSecurityConfiguration',
  Deactivate: 'Deactivate',
  SetCommunication: 'SetCommunication',
  AckAgentEvents: 'AckAgentEvents',
  ReportActivationResult: 'ReportActivationResult',
} as const

export type CommandName = keyof typeof COMMANDS

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
  return Object.hasOwn(COMMANDS, name)
}

export interface HostInfo {
  hostname: string
  platform: string
  osRelease: string
  arch: string
  agentVersion: string
  state: 'unactivated' | 'pre-activated' | 'activated'
  /** The agent's clock, so the manager can refuse activation across too large a skew. */
  clock: string
  certificateSha256: string
  /** Present when the agent connected to ask for activation (dsa_control -a): its key:value arguments. */
  activationRequest?: ActivationRequestArgs
}

/** The `dsa_control -a dsm://HOST:PORT/ key:value ...` arguments, as the agent passes them on. */
export interface ActivationRequestArgs {
  hostname?: string
  displayname?: string
  description?: string
  group?: string
  policyid?: string
  tenantID?: string
  token?: string
}

export const ACTIVATION_ARG_KEYS = ['hostname', 'displayname', 'description', 'group', 'policyid', 'tenantID', 'token'] as const

/** How the agent talks to its manager after activation; stored as ds_agent.comm.json. */
export interface AgentCommunication {
  /** HOST:PORT of the manager's heartbeat listener; null: the agent never connects out. */
  managerAddress: string | null
  mode: 'bidirectional' | 'manager-initiated' | 'agent-initiated'
  heartbeatSeconds: number
}

/** The manager's verdict on an agent-initiated activation, told to the agent as the last command. */
export interface ActivationReport {
  status: number
  reason: string
  message: string
  hint?: string
  computer?: {id: number; guid: string; hostname: string}
}

export interface AgentStatusReply {
  state: 'unactivated' | 'pre-activated' | 'activated'
  hostname: string
  certificateSha256: string
  managerSha256?: string
  caSha256?: string
  clock: string
  configuration?: {policy: string; version: number; sha256: string; appliedAt: string}
}

export interface AgentEventsReply {
  /** Identifies the agent's event database; with an event id, the key the manager deduplicates on. */
  instance: string
  events: Array<{id: number; at: string; type: string; detail: Record<string, unknown>}>
  more: boolean
}

/** An error reply: the HTTP status carries the class, the body says what and what to do. */
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
  const error = (body as Partial<ErrorReply> | undefined)?.error
  const failure = error?.class && error.class in STATUS_BY_CLASS ? error.class : 'internal'
  return new TetherError(failure, error?.code ?? `http-${status}`, error?.message ?? `${command} failed with HTTP ${status}`, {
    hint: error?.hint,
    details: {command, httpStatus: status},
  })
}
