import type {HandshakeEntry, JournalRow} from '../../channel/journal.js'
import type {CommandName} from '../../protocol/messages.js'

/**
 * The manager's store: every piece of state the manager keeps, behind named operations. Each
 * operation is atomic on its own (no transaction spans two calls), so an engine may run them on any
 * connection: embedded SQLite (store/sqlite.ts), or a PostgreSQL shared by several nodes (store/postgres.ts).
 * Every operation is async so both engines fit the same interface.
 */

export type CommunicationMode = 'bidirectional' | 'manager-initiated' | 'agent-initiated'
/** `activating`: a name reserved while an activation runs (see ComputerStore.reserve). */
export type ComputerState = 'activating' | 'activated' | 'deactivation-pending' | 'reactivation-required' | 'deactivated'

export interface Computer {
  id: number
  guid: string
  hostname: string
  displayName: string | null
  description: string | null
  group: string | null
  policy: string | null
  address: string | null
  mode: CommunicationMode
  state: ComputerState
  hostInfo: Record<string, unknown> | null
  certSerial: string | null
  certSha256: string | null
  createdAt: string
  activatedAt: string | null
  lastSeenAt: string | null
  /** Per-computer overrides; null: the manager default applies. */
  heartbeatIntervalSeconds: number | null
  missedHeartbeats: number | null
  /** The configuration the agent last reported as applied. */
  configPolicy: string | null
  configVersion: number | null
  configSha256: string | null
  /** When the computer's certificate became valid and when it expires. */
  certNotBefore: string | null
  certNotAfter: string | null
  /** A renewed certificate issued and sent, not confirmed yet (the agent holds it once it presents it). */
  renewalSha256: string | null
  /** An operator asked for a renewal at the next contact. */
  renewRequested: boolean
}

/** A confirmed activation: the computer (new, or the one with this GUID) and its certificate. */
export interface ActivationRecord {
  guid: string
  hostname: string
  displayName?: string
  description?: string
  group?: string
  policy?: string
  address?: string
  mode: CommunicationMode
  hostInfo: Record<string, unknown>
  certSerial: string
  certSha256: string
  certNotBefore?: string
  certNotAfter?: string
}

export interface RenewedCertificate {
  sha256: string
  serial: string
  notBefore: string
  notAfter: string
}

export interface CommunicationChange {
  mode?: CommunicationMode
  heartbeatIntervalSeconds?: number | null
  missedHeartbeats?: number | null
}

export interface AppliedConfiguration {
  policy?: string
  version?: number
  sha256?: string
}

/** What a contact learnt about the computer. */
export interface ContactRecord {
  at: Date
  clock: string
  applied?: AppliedConfiguration
}

export interface IssuedCertificate {
  serial: string
  sha256: string
  subject: string
  notBefore: string
  notAfter: string
  pem: string
}

/** What a contact read of a computer before renewing it: its certificate (the one the session presents) and the renewal in progress. */
export interface RenewalExpectation {
  current: string | null
  renewal: string | null
}

export type RevocationReasonName = 'unspecified' | 'keyCompromise' | 'affiliationChanged' | 'superseded' | 'cessationOfOperation'

export interface RevokedCertificate {
  serial: string
  sha256: string
  subject: string
  revokedAt: string
  reason: RevocationReasonName
}

export interface Operation {
  id: number
  computerId: number
  command: CommandName
  body: Record<string, unknown>
  state: 'queued' | 'done' | 'failed'
  attempts: number
  createdAt: string
  finishedAt: string | null
  result: unknown
}

/** Who claims queued operations for a contact (a process of a node), and until when. */
export interface OperationClaim {
  holder: string
  until: Date
}

export interface OperationOutcome {
  ok: boolean
  result: unknown
  /** A failed operation is retried until it has been tried this many times. */
  maxAttempts: number
}

export interface ManagerEvent {
  id: number
  computerId: number | null
  hostname: string | null
  at: string
  type: string
  detail: Record<string, unknown>
  receivedAt: string
}

export interface EventBatch {
  /** The agent database the events come from: with an event id, the key re-deliveries are known by. */
  instance: string
  events: Array<{id: number; at: string; type: string; detail: Record<string, unknown>}>
}

export interface EventFilter {
  computerId?: number
  since?: string
  type?: string
  limit?: number
}

export interface Policy {
  id: number
  name: string
  document: Record<string, unknown>
  version: number
  sha256: string
  createdAt: string
  updatedAt: string
}

export interface PolicyVersion {
  name: string
  document: Record<string, unknown>
  /** Fingerprint of the configuration this version renders to (computed by the caller). */
  sha256: (version: number) => string
  replace: boolean
  at: Date
}

export interface JournalQuery {
  sinceId?: number
  since?: string
  limit?: number
}

/** The identity rows of an installation, written once at init. */
export interface Identity {
  managerGuid: string
  tenantId: string
  createdAt: string
}

export interface ComputerStore {
  count(): Promise<number>
  list(): Promise<Computer[]>
  /**
   * The computers the poller may have to contact: activated or being deactivated, with an address,
   * and manager-initiated or with operations queued, in id order. Whether one is due now (its
   * interval) is the poller's to decide; every other computer is left out by the store.
   */
  pollCandidates(): Promise<Computer[]>
  /**
   * Every computer in id order, a page of `pageSize` at a time (a large registry is never held at
   * once). Pages, not single computers: one await per page instead of one per computer.
   */
  pages(pageSize?: number): AsyncIterable<Computer[]>
  get(id: number): Promise<Computer | undefined>
  /** Computers whose GUID (any case), hostname, display name or address is `ref`. */
  matching(ref: string): Promise<Computer[]>
  byHostname(hostname: string): Promise<Computer[]>
  /** The computer an issued certificate belongs to. */
  byCertificate(sha256: string): Promise<Computer | undefined>
  /**
   * Reserve a name for an activation about to run: a row in state `activating` under `guid`. With
   * `unique`, refused (false) when any other computer has the name, so concurrent claims of one
   * name make one computer. A reservation older than `staleAfterMs` (a crashed activation) is gone.
   */
  reserve(claim: {guid: string; hostname: string; unique: boolean; staleAfterMs: number}, at: Date): Promise<boolean>
  /** Drop the reservation of an activation that did not complete (only while still `activating`). */
  release(guid: string): Promise<void>
  /**
   * Record a confirmed activation and link its certificate, in one step. With `cancelQueued`, what
   * was queued for the computer is cancelled (its new holder must not receive it).
   */
  recordActivation(record: ActivationRecord, at: Date, options?: {cancelQueued?: boolean}): Promise<Computer>
  setCommunication(id: number, change: CommunicationChange): Promise<void>
  recordContact(id: number, contact: ContactRecord): Promise<void>
  recordAppliedConfiguration(id: number, applied: AppliedConfiguration | undefined): Promise<void>
  /** An activated computer whose agent was reset: it needs reactivation. */
  markReactivationRequired(id: number): Promise<void>
  /** Mark deactivation pending and queue Deactivate unless one is queued, in one step. */
  beginDeactivation(id: number, at: Date): Promise<void>
  /** Revoke its certificate, cancel what is queued, and mark it deactivated (or delete it), in one step. */
  finishDeactivation(id: number, options: {remove: boolean; at: Date}): Promise<void>
  /** Assign a policy and queue its configuration (unless one is queued), in one step. */
  assignPolicy(id: number, policy: string, at: Date): Promise<void>
  /**
   * A renewed certificate (recorded, linked to the computer) is about to be sent to the agent: the
   * renewal in progress, unless since this contact read the computer (`expected`) another contact
   * started one or finished one. False: leave it to that one.
   */
  beginRenewal(id: number, sha256: string, expected: RenewalExpectation): Promise<boolean>
  /**
   * The agent presented `renewed` over mutual TLS, so it installed it: when it is an unrevoked
   * certificate issued for this computer other than its current one, it becomes the computer's and
   * every other certificate of the computer (the old one, renewals it never took) is revoked as
   * superseded, in one step. False (nothing changed) for any other certificate.
   */
  finishRenewal(id: number, renewed: RenewedCertificate, at: Date): Promise<boolean>
  /** Renew these computers (all, with no ids) at their next contact. Returns how many were marked. */
  requestRenewal(ids: number[] | 'all'): Promise<number>
  /**
   * Change what the operator asked with `dsa_control -m`: the given fields only, and classic
   * words tether keeps without acting on, merged into the host information under `classicWords`.
   */
  describe(id: number, change: ComputerDescription): Promise<void>
}

export interface ComputerDescription {
  displayName?: string
  description?: string
  group?: string
  classicWords?: Record<string, string>
}

export interface CertificateStore {
  /** Record an issued certificate; with `computerId`, linked to that computer at once (a renewal). */
  record(certificate: IssuedCertificate, at: Date, options?: {computerId?: number}): Promise<void>
  pem(sha256: string): Promise<string | undefined>
  isIssued(sha256: string): Promise<boolean>
  revocation(sha256: string): Promise<{revokedAt: string | null; reason: string | null} | undefined>
  isRevoked(sha256: string): Promise<boolean>
  /** Revoke, bumping the revocation version; false when it was already revoked (or unknown). */
  revoke(sha256: string, reason: RevocationReasonName, at: Date): Promise<boolean>
  revoked(): Promise<RevokedCertificate[]>
  /** Bumped on every revocation: a published CRL lists them all when it was issued at this version. */
  revocationVersion(): Promise<number>
}

/** A CRL as issued and published: every node serves the same one, numbered from one sequence. */
export interface PublishedCrl {
  number: number
  pem: string
  thisUpdate: string
  nextUpdate: string
  /** The revocation version it lists everything up to. */
  revocationVersion: number
  publishedAt: string
}

/** An enrolment token: only the SHA-256 of its secret is kept. */
export interface EnrolmentToken {
  /** Short, shown in lists and used to revoke (not secret). */
  id: string
  secretSha256: string
  createdAt: string
  expiresAt: string | null
  /** How many activations it may make; null: any number until it expires. */
  usesAllowed: number | null
  uses: number
  policy: string | null
  group: string | null
  revokedAt: string | null
}

export type TokenRefusal = 'unknown' | 'revoked' | 'expired' | 'used-up'

export interface TokenStore {
  create(token: EnrolmentToken): Promise<void>
  list(): Promise<EnrolmentToken[]>
  /** False when there is no such token, or it was already revoked. */
  revoke(id: string, at: Date): Promise<boolean>
  /** Count one use of the live token with this secret digest, atomically; else why not. */
  use(secretSha256: string, at: Date): Promise<{token: EnrolmentToken} | {refused: TokenRefusal}>
  /** Give back a use (the activation it was counted for did not complete). */
  unuse(id: string): Promise<void>
  /** How many tokens could still be used now. */
  live(at: Date): Promise<number>
}

export interface CrlStore {
  latest(): Promise<PublishedCrl | undefined>
  /** The latest one without its PEM, which grows with every revocation: what each contact checks. */
  latestHead(): Promise<Omit<PublishedCrl, 'pem'> | undefined>
  /** Store `crl` unless one with its number exists (another node issued it first): true when stored. */
  publish(crl: PublishedCrl): Promise<boolean>
}

export interface OperationStore {
  queue(computerId: number, command: CommandName, body: Record<string, unknown>, at: Date): Promise<Operation>
  queued(computerId: number): Promise<Operation[]>
  list(computerId?: number): Promise<Operation[]>
  /** Record the outcome (and end any claim on it). */
  finish(id: number, outcome: OperationOutcome, at: Date): Promise<void>
  /**
   * Claim the computer's queued operations for one contact: those no other holder has a live claim
   * on (a claim past `until` is free, so a node that died mid-contact loses it), in queue order.
   * Two contacts claiming at once never get the same operation (row locks, SKIP LOCKED on PostgreSQL).
   */
  claim(computerId: number, claim: OperationClaim, at: Date): Promise<Operation[]>
  /** Give back claims of `holder` on operations it did not deliver (the next contact takes them). */
  release(ids: number[], holder: string): Promise<void>
}

export interface EventStore {
  /** Store a pulled batch; an event already stored is ignored. Returns how many were new. */
  store(computerId: number, batch: EventBatch, at: Date): Promise<number>
  list(filter: EventFilter): Promise<ManagerEvent[]>
}

export interface PolicyStore {
  list(): Promise<Policy[]>
  /** By name, or by numeric id when `ref` is all digits. */
  find(ref: string): Promise<Policy | undefined>
  /**
   * Save a new policy, or with `replace` a new version of an existing one, queueing its
   * configuration for every activated computer assigned to it, in one step. When the name exists
   * and `replace` is false, nothing changes and `existed` says so.
   */
  save(version: PolicyVersion): Promise<{policy: Policy; queued: number; existed: boolean}>
}

export interface SettingStore {
  /** Every stored setting: name to JSON text. */
  all(): Promise<Map<string, string>>
  set(name: string, json: string, at: Date): Promise<void>
}

export interface MetaStore {
  identity(): Promise<Identity>
  get(key: string): Promise<string | undefined>
  set(key: string, value: string): Promise<void>
  /** Write every entry, or none when any key exists already (an installation is set up once): true when written. */
  create(entries: Record<string, string>): Promise<boolean>
}

export interface JournalStore {
  record(entry: HandshakeEntry, at: Date): Promise<void>
  read(query: JournalQuery): Promise<JournalRow[]>
  lastId(): Promise<number>
}

/** A manager node of an installation on PostgreSQL, with its own manager-role certificate. */
export interface ManagerNode {
  id: number
  name: string
  /** The names and addresses its certificate was issued for. */
  hostnames: string[]
  certSerial: string
  certSha256: string
  /** The certificate it held before its last renewal (revoked with it when the node is removed). */
  previousCertSha256: string | null
  /** Where agents reach its heartbeat listener, as it last said when running. */
  heartbeatAddress: string | null
  joinedAt: string
  lastSeenAt: string | null
  removedAt: string | null
}

export interface NewNode {
  name: string
  hostnames: string[]
  /** Its manager-role certificate, recorded as issued with the node. */
  certificate: IssuedCertificate
}

/** A one-time invitation for a node to join; only the SHA-256 of its secret is kept. */
export interface Invitation {
  id: string
  secretSha256: string
  createdAt: string
  expiresAt: string
  /** The node that made it. */
  createdBy: string | null
  usedAt: string | null
  usedBy: string | null
}

export type InvitationRefusal = 'unknown' | 'expired' | 'used'

export interface NodeStore {
  /** Every node, removed ones included, in the order they joined. */
  list(): Promise<ManagerNode[]>
  get(name: string): Promise<ManagerNode | undefined>
  /**
   * Add a node and record its certificate, in one step. With `invitation` (its secret's digest) only
   * by consuming that invitation in the same step, so one invitation adds one node. A name in use
   * by a node not removed is refused; a removed node's name is taken over.
   */
  add(node: NewNode, at: Date, options?: {invitation?: string}): Promise<{node: ManagerNode} | {refused: InvitationRefusal | 'name-taken'}>
  /** A running node says where agents reach it, and that it is alive. */
  seen(name: string, heartbeatAddress: string | null, at: Date): Promise<void>
  /** A renewed certificate: recorded as issued; the current one becomes the previous one. */
  renewCertificate(name: string, certificate: IssuedCertificate, at: Date): Promise<void>
  /** Mark the node removed and revoke its certificates, in one step; undefined when no such node is active. */
  remove(name: string, at: Date): Promise<{node: ManagerNode; revoked: number} | undefined>
}

export interface InvitationStore {
  create(invitation: Invitation): Promise<void>
  list(): Promise<Invitation[]>
  /** The invitation with this secret digest if it can still be used at `at`, else why not (nothing changes). */
  check(secretSha256: string, at: Date): Promise<{invitation: Invitation} | {refused: InvitationRefusal}>
}

/** Named leases: one holder at a time, until the lease runs out (its holder died) or is released. */
export interface LeaseStore {
  /** Take or extend the lease: true when `holder` holds it until `until` now. */
  take(name: string, holder: string, until: Date, at: Date): Promise<boolean>
  release(name: string, holder: string): Promise<void>
}

/** The tables of a registry, as `tether manager migrate` copies them. */
export const REGISTRY_TABLES = [
  'meta', 'settings', 'computers', 'certificates', 'crls', 'tokens', 'policies', 'operations', 'events', 'handshakes', 'nodes', 'invitations', 'leases',
] as const
export type RegistryTable = (typeof REGISTRY_TABLES)[number]

/** One row, engine-neutral: column name to value, JSON columns parsed. */
export type RegistryRow = Record<string, unknown>

/** Every row of every table, for copying a registry to another engine with the same identities. */
export interface RegistryStore {
  /** True when no table holds a row (a fresh database: schema only). */
  isEmpty(): Promise<boolean>
  /** The rows of one table in key order, ids as they are. */
  dump(table: RegistryTable): Promise<RegistryRow[]>
  /** Insert a dump, ids and all, into an empty registry, in one transaction; refused when it is not empty. */
  load(tables: ReadonlyMap<RegistryTable, RegistryRow[]>): Promise<void>
}

export interface ManagerStore {
  readonly engine: 'sqlite' | 'postgres'
  /** Where it lives, for messages (a file, or a database URL without its password). */
  readonly location: string
  readonly schemaVersion: number
  readonly computers: ComputerStore
  readonly certificates: CertificateStore
  readonly crls: CrlStore
  readonly tokens: TokenStore
  readonly operations: OperationStore
  readonly events: EventStore
  readonly policies: PolicyStore
  readonly settings: SettingStore
  readonly meta: MetaStore
  readonly journal: JournalStore
  readonly nodes: NodeStore
  readonly invitations: InvitationStore
  readonly leases: LeaseStore
  readonly registry: RegistryStore
  close(): Promise<void>
}
