import type {HandshakeEntry, JournalRow} from '../../channel/journal.js'
import type {CommandName} from '../../protocol/messages.js'
import {Database, StatementCache, openDatabase, schemaVersion, writeYielding} from '../../platform/sqlite.js'
import {insertJournalEntry, lastJournalId, readJournalEntries} from '../../platform/sqlite-journal.js'
import {BOOLEAN_COLUMNS, JSON_COLUMNS, TABLE_KEYS, checkedColumn} from './registry-copy.js'
import {invitationRefusal, tokenRefusal} from './rules.js'
import {SQLITE_MIGRATIONS} from './sqlite-schema.js'
import type {
  ActivationRecord,
  AppliedConfiguration,
  CommunicationChange,
  Computer,
  ComputerDescription,
  ContactRecord,
  EventBatch,
  EventFilter,
  Identity,
  Invitation,
  InvitationRefusal,
  IssuedCertificate,
  JournalQuery,
  ManagerEvent,
  ManagerNode,
  ManagerStore,
  NewNode,
  Operation,
  OperationClaim,
  OperationOutcome,
  Policy,
  PolicyVersion,
  RenewalExpectation,
  RenewedCertificate,
  EnrolmentToken,
  TokenRefusal,
  PublishedCrl,
  RegistryRow,
  RegistryTable,
  RevocationReasonName,
  RevokedCertificate,
} from './store.js'
import {REGISTRY_TABLES} from './store.js'

/** Past every id given so far, deleted ones included (migration 9 keeps the highest deleted). */
const NEXT_COMPUTER_ID = "(SELECT max(coalesce((SELECT MAX(id) FROM computers), 0), coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'computer_id_high'), 0)) + 1)"

/**
 * The embedded engine: one SQLite file (WAL, busy timeout) shared by the CLI and a running manager.
 * better-sqlite3 is synchronous, so every operation runs to completion before the next starts and
 * each multi-statement one is a transaction.
 */

const COMPUTER = `SELECT id, guid, hostname, display_name AS displayName, description, group_name AS "group", policy, address, mode, state,
  host_info AS hostInfo, cert_serial AS certSerial, cert_sha256 AS certSha256, created_at AS createdAt, activated_at AS activatedAt,
  last_seen_at AS lastSeenAt, heartbeat_interval_s AS heartbeatIntervalSeconds, missed_heartbeats AS missedHeartbeats,
  config_policy AS configPolicy, config_version AS configVersion, config_sha256 AS configSha256,
  cert_not_before AS certNotBefore, cert_not_after AS certNotAfter, renewal_sha256 AS renewalSha256, renew_requested AS renewRequested FROM computers`

const OPERATION = 'SELECT id, computer_id AS computerId, command, body, state, attempts, created_at AS createdAt, finished_at AS finishedAt, result FROM operations'

const TOKEN = 'SELECT id, secret_sha256 AS secretSha256, created_at AS createdAt, expires_at AS expiresAt, uses_allowed AS usesAllowed, uses, policy, group_name AS "group", revoked_at AS revokedAt FROM tokens'

const POLICY = 'SELECT id, name, document, version, sha256, created_at AS createdAt, updated_at AS updatedAt FROM policies'

const NODE = `SELECT id, name, hostnames, cert_serial AS certSerial, cert_sha256 AS certSha256, previous_cert_sha256 AS previousCertSha256,
  heartbeat_address AS heartbeatAddress, joined_at AS joinedAt, last_seen_at AS lastSeenAt, removed_at AS removedAt FROM nodes`

const INVITATION = 'SELECT id, secret_sha256 AS secretSha256, created_at AS createdAt, expires_at AS expiresAt, created_by AS createdBy, used_at AS usedAt, used_by AS usedBy FROM invitations'

type Row = Record<string, unknown>

function computerFrom(row: Row | undefined): Computer | undefined {
  if (!row) return undefined
  return {...row, hostInfo: row.hostInfo ? JSON.parse(row.hostInfo as string) : null, renewRequested: Boolean(row.renewRequested)} as Computer
}

/** A computer from the column values of COMPUTER, in its order (the same object as computerFrom's). */
function computerFromValues(v: unknown[]): Computer {
  return {
    id: v[0], guid: v[1], hostname: v[2], displayName: v[3], description: v[4], group: v[5], policy: v[6], address: v[7], mode: v[8], state: v[9],
    hostInfo: v[10] ? JSON.parse(v[10] as string) : null, certSerial: v[11], certSha256: v[12], createdAt: v[13], activatedAt: v[14],
    lastSeenAt: v[15], heartbeatIntervalSeconds: v[16], missedHeartbeats: v[17],
    configPolicy: v[18], configVersion: v[19], configSha256: v[20],
    certNotBefore: v[21], certNotAfter: v[22], renewalSha256: v[23], renewRequested: Boolean(v[24]),
  } as Computer
}

function operationFrom(row: Row): Operation {
  return {...row, body: JSON.parse(row.body as string), result: row.result ? JSON.parse(row.result as string) : null} as Operation
}

function policyFrom(row: Row | undefined): Policy | undefined {
  return row ? ({...row, document: JSON.parse(row.document as string)} as Policy) : undefined
}

function nodeFrom(row: Row | undefined): ManagerNode | undefined {
  return row ? ({...row, hostnames: JSON.parse(row.hostnames as string)} as ManagerNode) : undefined
}

/** A registry table's rows as they are stored: the certificates' rowid is their id (PostgreSQL's identity). */
function dumpSql(table: RegistryTable): string {
  return table === 'certificates' ? 'SELECT rowid AS id, * FROM certificates ORDER BY rowid' : `SELECT * FROM ${table} ORDER BY ${TABLE_KEYS[table]}`
}

export class SqliteManagerStore implements ManagerStore {
  readonly engine = 'sqlite' as const
  private readonly sql: StatementCache

  private constructor(private readonly db: Database, readonly location: string) {
    this.sql = new StatementCache(db)
  }

  /** Open the registry file; `create` makes a new one (init only), otherwise it must exist. */
  static async open(file: string, options: {create?: boolean} = {}): Promise<SqliteManagerStore> {
    const db = await openDatabase(file, {
      what: 'the manager database',
      migrations: SQLITE_MIGRATIONS,
      create: options.create,
      missingHint: 'run `tether manager init` to create the manager home, or restore it from a backup',
      damagedHint: 'restore the manager home from a backup',
    })
    return new SqliteManagerStore(db, file)
  }

  get schemaVersion(): number {
    return schemaVersion(this.db)
  }

  /**
   * Every transaction here writes, and each begins IMMEDIATE: it takes the write lock first (waiting
   * out the busy timeout), so a read-then-write such as claiming queued operations runs whole while
   * other processes write the same file (the CLI, the listener workers of `manager start
   * --workers N`). A deferred one reading first would fail with SQLITE_BUSY when another process
   * wrote since its read, instead of waiting.
   */
  private transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A) => this.db.transaction(fn).immediate(...args)
  }

  async close(): Promise<void> {
    this.db.close()
  }

  /** Fold the WAL into the main file, so the file alone is the whole registry (init, backup). */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)')
  }

  /**
   * A consistent copy of the registry in `file` (a new file), taken with SQLite's online backup
   * while other connections (a running manager) keep reading and writing. All pages are copied in
   * one step: a step that a writer interrupts starts over, so small steps could chase a busy
   * manager forever.
   */
  async backup(file: string): Promise<void> {
    await this.db.backup(file, {progress: () => 0x7fff_ffff})
  }

  /**
   * Keyset pages rather than one open `.iterate()`: an open better-sqlite3 iterator keeps the
   * connection busy, and a caller reads other tables (policies) between computers.
   */
  private async *computersInPages(pageSize: number): AsyncGenerator<Computer[]> {
    for (let after = 0; ;) {
      // Column values, one object each of one shape: half the cost of better-sqlite3's row objects.
      const rows = this.sql.values(`${COMPUTER} WHERE id > ? ORDER BY id LIMIT ?`, after, pageSize)
      if (rows.length > 0) yield rows.map(computerFromValues)
      if (rows.length < pageSize) return
      after = rows.at(-1)![0] as number
    }
  }

  private computer(id: number): Computer | undefined {
    return computerFrom(this.sql.get<Row>(`${COMPUTER} WHERE id = ?`, id))
  }

  private queuedOf(computerId: number): Operation[] {
    return this.sql.all<Row>(`${OPERATION} WHERE computer_id = ? AND state = 'queued' ORDER BY id`, computerId).map(operationFrom)
  }

  private queueUnlessQueued(computerId: number, command: CommandName, at: Date): void {
    if (this.queuedOf(computerId).some((op) => op.command === command)) return
    this.sql.run('INSERT INTO operations (computer_id, command, body, created_at) VALUES (?, ?, ?, ?)', computerId, command, '{}', at.toISOString())
  }

  private revokeNow(sha256: string, reason: RevocationReasonName, at: Date): boolean {
    const changed = this.sql.run('UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE sha256 = ? AND revoked_at IS NULL', at.toISOString(), reason, sha256).changes > 0
    if (changed) this.setMeta('crl_number', String(this.revocationVersionNow() + 1))
    return changed
  }

  private revocationVersionNow(): number {
    return Number(this.getMeta('crl_number') ?? '0')
  }

  private getMeta(key: string): string | undefined {
    return this.sql.get<{value: string}>('SELECT value FROM meta WHERE key = ?', key)?.value
  }

  private setMeta(key: string, value: string): void {
    this.sql.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', key, value)
  }

  readonly computers = {
    count: async (): Promise<number> => this.sql.get<{n: number}>('SELECT count(*) AS n FROM computers')!.n,
    list: async (): Promise<Computer[]> => this.sql.all<Row>(`${COMPUTER} ORDER BY id`).map((r) => computerFrom(r)!),
    // Two indexed lookups (migration 10), not a scan of every computer: the poller asks once a second.
    pollCandidates: async (): Promise<Computer[]> =>
      this.sql.all<Row>(`${COMPUTER} WHERE id IN (SELECT id FROM computers WHERE mode = 'manager-initiated' UNION SELECT computer_id FROM operations WHERE state = 'queued')
      AND state IN ('activated', 'deactivation-pending') AND address IS NOT NULL AND address <> '' AND mode <> 'agent-initiated' ORDER BY id`).map((r) => computerFrom(r)!),
    pages: (pageSize = 1000): AsyncIterable<Computer[]> => this.computersInPages(pageSize),
    get: async (id: number): Promise<Computer | undefined> => this.computer(id),
    matching: async (ref: string): Promise<Computer[]> =>
      this.sql.all<Row>(`${COMPUTER} WHERE guid = ? COLLATE NOCASE OR hostname = ? OR display_name = ? OR address = ? ORDER BY id`, ref, ref, ref, ref).map((r) => computerFrom(r)!),
    byHostname: async (hostname: string): Promise<Computer[]> => this.sql.all<Row>(`${COMPUTER} WHERE hostname = ? ORDER BY id`, hostname).map((r) => computerFrom(r)!),
    byCertificate: async (sha256: string): Promise<Computer | undefined> =>
      computerFrom(this.sql.get<Row>(`${COMPUTER} WHERE id = (SELECT computer_id FROM certificates WHERE sha256 = ?)`, sha256)),

    reserve: async (claim: {guid: string; hostname: string; unique: boolean; staleAfterMs: number}, at: Date): Promise<boolean> =>
      this.transaction(() => {
        this.sql.run("DELETE FROM computers WHERE state = 'activating' AND hostname = ? AND created_at < ?", claim.hostname, new Date(at.getTime() - claim.staleAfterMs).toISOString())
        if (claim.unique && this.sql.get('SELECT 1 FROM computers WHERE hostname = ? AND guid != ?', claim.hostname, claim.guid)) return false
        this.sql.run(`INSERT INTO computers (id, guid, hostname, state, created_at) VALUES (${NEXT_COMPUTER_ID}, ?, ?, 'activating', ?) ON CONFLICT(guid) DO NOTHING`, claim.guid, claim.hostname, at.toISOString())
        return true
      })(),

    release: async (guid: string): Promise<void> => {
      this.sql.run("DELETE FROM computers WHERE guid = ? AND state = 'activating'", guid)
    },

    recordActivation: async (record: ActivationRecord, at: Date, options: {cancelQueued?: boolean} = {}): Promise<Computer> => {
      const when = at.toISOString()
      this.transaction(() => {
        if (options.cancelQueued) this.sql.run("UPDATE operations SET state = 'failed', result = '\"cancelled: the computer was reactivated\"' WHERE computer_id = (SELECT id FROM computers WHERE guid = ?) AND state = 'queued'", record.guid)
        this.sql.run(`INSERT INTO computers (id, guid, hostname, display_name, description, group_name, policy, address, mode, state, host_info, cert_serial, cert_sha256, cert_not_before, cert_not_after, created_at, activated_at, last_seen_at)
          VALUES (${NEXT_COMPUTER_ID}, @guid, @hostname, @displayName, @description, @group, @policy, @address, @mode, 'activated', @hostInfo, @certSerial, @certSha256, @certNotBefore, @certNotAfter, @at, @at, @at)
          ON CONFLICT(guid) DO UPDATE SET hostname = excluded.hostname, display_name = coalesce(excluded.display_name, display_name),
            description = coalesce(excluded.description, description), group_name = coalesce(excluded.group_name, group_name),
            policy = coalesce(excluded.policy, policy), address = coalesce(excluded.address, address), mode = excluded.mode, state = 'activated',
            host_info = excluded.host_info, cert_serial = excluded.cert_serial, cert_sha256 = excluded.cert_sha256, cert_not_before = excluded.cert_not_before, cert_not_after = excluded.cert_not_after,
            renewal_sha256 = NULL, renew_requested = 0, activated_at = excluded.activated_at, last_seen_at = excluded.last_seen_at`, {
          ...record,
          displayName: record.displayName ?? null,
          description: record.description ?? null,
          group: record.group ?? null,
          policy: record.policy ?? null,
          address: record.address ?? null,
          certNotBefore: record.certNotBefore ?? null,
          certNotAfter: record.certNotAfter ?? null,
          hostInfo: JSON.stringify(record.hostInfo),
          at: when,
        })
        this.sql.run('UPDATE certificates SET computer_id = (SELECT id FROM computers WHERE guid = ?) WHERE sha256 = ?', record.guid, record.certSha256)
      })()
      return computerFrom(this.sql.get<Row>(`${COMPUTER} WHERE guid = ?`, record.guid))!
    },

    setCommunication: async (id: number, change: CommunicationChange): Promise<void> => {
      this.sql.run(`UPDATE computers SET mode = coalesce(@mode, mode),
        heartbeat_interval_s = CASE WHEN @setInterval THEN @interval ELSE heartbeat_interval_s END,
        missed_heartbeats = CASE WHEN @setMissed THEN @missed ELSE missed_heartbeats END WHERE id = @id`, {
        id,
        mode: change.mode ?? null,
        setInterval: change.heartbeatIntervalSeconds === undefined ? 0 : 1,
        interval: change.heartbeatIntervalSeconds ?? null,
        setMissed: change.missedHeartbeats === undefined ? 0 : 1,
        missed: change.missedHeartbeats ?? null,
      })
    },

    describe: async (id: number, change: ComputerDescription): Promise<void> => {
      this.sql.run(`UPDATE computers SET display_name = coalesce(@displayName, display_name), description = coalesce(@description, description),
        group_name = coalesce(@group, group_name),
        host_info = CASE WHEN @words IS NULL THEN host_info
          ELSE json_set(coalesce(host_info, '{}'), '$.classicWords', json_patch(coalesce(json_extract(host_info, '$.classicWords'), '{}'), @words)) END
        WHERE id = @id`, {
        id,
        displayName: change.displayName ?? null,
        description: change.description ?? null,
        group: change.group ?? null,
        words: change.classicWords && Object.keys(change.classicWords).length > 0 ? JSON.stringify(change.classicWords) : null,
      })
    },

    recordContact: async (id: number, contact: ContactRecord): Promise<void> => writeYielding(this.db, () => {
      this.sql.run(`UPDATE computers SET host_info = json_set(coalesce(host_info, '{}'), '$.clock', @clock), last_seen_at = @at,
        config_policy = @policy, config_version = @version, config_sha256 = @sha256 WHERE id = @id`, {
        id,
        clock: contact.clock,
        at: contact.at.toISOString(),
        policy: contact.applied?.policy ?? null,
        version: contact.applied?.version ?? null,
        sha256: contact.applied?.sha256 ?? null,
      })
    }),

    recordAppliedConfiguration: async (id: number, applied: AppliedConfiguration | undefined): Promise<void> => {
      this.sql.run('UPDATE computers SET config_policy = ?, config_version = ?, config_sha256 = ? WHERE id = ?', applied?.policy ?? null, applied?.version ?? null, applied?.sha256 ?? null, id)
    },

    markReactivationRequired: async (id: number): Promise<void> => {
      this.sql.run("UPDATE computers SET state = 'reactivation-required' WHERE id = ? AND state = 'activated'", id)
    },

    beginDeactivation: async (id: number, at: Date): Promise<void> => {
      this.transaction(() => {
        this.sql.run("UPDATE computers SET state = 'deactivation-pending' WHERE id = ?", id)
        this.queueUnlessQueued(id, 'Deactivate', at)
      })()
    },

    finishDeactivation: async (id: number, options: {remove: boolean; at: Date}): Promise<void> => {
      this.transaction(() => {
        const computer = this.computer(id)
        if (computer?.certSha256) this.revokeNow(computer.certSha256, 'cessationOfOperation', options.at)
        this.sql.run("UPDATE operations SET state = 'failed', result = '\"cancelled: computer deactivated\"' WHERE computer_id = ? AND state = 'queued'", id)
        if (options.remove) this.sql.run('DELETE FROM computers WHERE id = ?', id)
        else this.sql.run("UPDATE computers SET state = 'deactivated' WHERE id = ?", id)
      })()
    },

    assignPolicy: async (id: number, policy: string, at: Date): Promise<void> => {
      this.transaction(() => {
        this.sql.run('UPDATE computers SET policy = ? WHERE id = ?', policy, id)
        this.queueUnlessQueued(id, 'SetSecurityConfiguration', at)
      })()
    },

    beginRenewal: async (id: number, sha256: string, expected: RenewalExpectation): Promise<boolean> =>
      this.sql.run("UPDATE computers SET renewal_sha256 = ? WHERE id = ? AND state = 'activated' AND cert_sha256 IS ? AND renewal_sha256 IS ?", sha256, id, expected.current, expected.renewal).changes > 0,

    finishRenewal: async (id: number, renewed: RenewedCertificate, at: Date): Promise<boolean> =>
      this.transaction(() => {
        const computer = this.computer(id)
        const own = this.sql.get('SELECT 1 FROM certificates WHERE sha256 = ? AND computer_id = ? AND revoked_at IS NULL', renewed.sha256, id)
        if (!computer || computer.state !== 'activated' || computer.certSha256 === renewed.sha256 || !own) return false
        for (const {sha256} of this.sql.all<{sha256: string}>('SELECT sha256 FROM certificates WHERE computer_id = ? AND sha256 != ? AND revoked_at IS NULL', id, renewed.sha256)) this.revokeNow(sha256, 'superseded', at)
        // An old row may hold its certificate unlinked (recorded before renewal existed).
        if (computer.certSha256) this.revokeNow(computer.certSha256, 'superseded', at)
        this.sql.run('UPDATE computers SET cert_sha256 = ?, cert_serial = ?, cert_not_before = ?, cert_not_after = ?, renewal_sha256 = NULL, renew_requested = 0 WHERE id = ?', renewed.sha256, renewed.serial, renewed.notBefore, renewed.notAfter, id)
        return true
      })(),

    requestRenewal: async (ids: number[] | 'all'): Promise<number> =>
      ids === 'all'
        ? this.sql.run("UPDATE computers SET renew_requested = 1 WHERE state = 'activated'").changes
        : this.transaction(() => ids.reduce((n, id) => n + this.sql.run("UPDATE computers SET renew_requested = 1 WHERE id = ? AND state = 'activated'", id).changes, 0))(),
  }

  readonly certificates = {
    record: async (cert: IssuedCertificate, at: Date, options: {computerId?: number} = {}): Promise<void> => {
      this.sql.run('INSERT INTO certificates (serial, sha256, subject, not_before, not_after, issued_at, pem, computer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        cert.serial, cert.sha256, cert.subject, cert.notBefore, cert.notAfter, at.toISOString(), cert.pem, options.computerId ?? null)
    },
    pem: async (sha256: string): Promise<string | undefined> => this.sql.get<{pem: string | null}>('SELECT pem FROM certificates WHERE sha256 = ?', sha256)?.pem ?? undefined,
    isIssued: async (sha256: string): Promise<boolean> => this.sql.get('SELECT 1 FROM certificates WHERE sha256 = ?', sha256) !== undefined,
    revocation: async (sha256: string) =>
      this.sql.get<{revokedAt: string | null; reason: string | null}>('SELECT revoked_at AS revokedAt, revocation_reason AS reason FROM certificates WHERE sha256 = ?', sha256),
    isRevoked: async (sha256: string): Promise<boolean> => this.sql.get('SELECT 1 FROM certificates WHERE sha256 = ? AND revoked_at IS NOT NULL', sha256) !== undefined,
    revoke: async (sha256: string, reason: RevocationReasonName, at: Date): Promise<boolean> => this.transaction(() => this.revokeNow(sha256, reason, at))(),
    revoked: async (): Promise<RevokedCertificate[]> =>
      this.sql.all<RevokedCertificate>('SELECT serial, sha256, subject, revoked_at AS revokedAt, revocation_reason AS reason FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at'),
    revocationVersion: async (): Promise<number> => this.revocationVersionNow(),
  }

  readonly crls = {
    latest: async (): Promise<PublishedCrl | undefined> =>
      this.sql.get<PublishedCrl>('SELECT number, pem, this_update AS thisUpdate, next_update AS nextUpdate, revocation_version AS revocationVersion, published_at AS publishedAt FROM crls ORDER BY number DESC LIMIT 1'),
    latestHead: async (): Promise<Omit<PublishedCrl, 'pem'> | undefined> =>
      this.sql.get<Omit<PublishedCrl, 'pem'>>('SELECT number, this_update AS thisUpdate, next_update AS nextUpdate, revocation_version AS revocationVersion, published_at AS publishedAt FROM crls ORDER BY number DESC LIMIT 1'),
    publish: async (crl: PublishedCrl): Promise<boolean> =>
      this.transaction(() => {
        const stored = this.sql.run('INSERT OR IGNORE INTO crls (number, this_update, next_update, revocation_version, pem, published_at) VALUES (?, ?, ?, ?, ?, ?)',
          crl.number, crl.thisUpdate, crl.nextUpdate, crl.revocationVersion, crl.pem, crl.publishedAt).changes > 0
        // Only the latest few are ever read; keep the table small.
        if (stored) this.sql.run('DELETE FROM crls WHERE number < ?', crl.number - 10)
        return stored
      })(),
  }

  readonly tokens = {
    create: async (token: EnrolmentToken): Promise<void> => {
      this.sql.run('INSERT INTO tokens (id, secret_sha256, created_at, expires_at, uses_allowed, uses, policy, group_name, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        token.id, token.secretSha256, token.createdAt, token.expiresAt, token.usesAllowed, token.uses, token.policy, token.group, token.revokedAt)
    },
    list: async (): Promise<EnrolmentToken[]> => this.sql.all<EnrolmentToken>(`${TOKEN} ORDER BY created_at, id`),
    revoke: async (id: string, at: Date): Promise<boolean> => this.sql.run('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', at.toISOString(), id).changes > 0,
    use: async (secretSha256: string, at: Date): Promise<{token: EnrolmentToken} | {refused: TokenRefusal}> =>
      this.transaction((): {token: EnrolmentToken} | {refused: TokenRefusal} => {
        const token = this.sql.get<EnrolmentToken>(`${TOKEN} WHERE secret_sha256 = ?`, secretSha256)
        const refused = tokenRefusal(token, at)
        if (refused) return {refused}
        this.sql.run('UPDATE tokens SET uses = uses + 1 WHERE id = ?', token!.id)
        return {token: {...token!, uses: token!.uses + 1}}
      })(),
    unuse: async (id: string): Promise<void> => {
      this.sql.run('UPDATE tokens SET uses = uses - 1 WHERE id = ? AND uses > 0', id)
    },
    live: async (at: Date): Promise<number> =>
      this.sql.get<{n: number}>('SELECT count(*) AS n FROM tokens WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND (uses_allowed IS NULL OR uses < uses_allowed)', at.toISOString())!.n,
  }

  readonly operations = {
    queue: async (computerId: number, command: CommandName, body: Record<string, unknown>, at: Date): Promise<Operation> => {
      const info = this.sql.run('INSERT INTO operations (computer_id, command, body, created_at) VALUES (?, ?, ?, ?)', computerId, command, JSON.stringify(body), at.toISOString())
      return operationFrom(this.sql.get<Row>(`${OPERATION} WHERE id = ?`, info.lastInsertRowid)!)
    },
    queued: async (computerId: number): Promise<Operation[]> => this.queuedOf(computerId),
    list: async (computerId?: number): Promise<Operation[]> =>
      (computerId === undefined ? this.sql.all<Row>(`${OPERATION} ORDER BY id`) : this.sql.all<Row>(`${OPERATION} WHERE computer_id = ? ORDER BY id`, computerId)).map(operationFrom),
    finish: async (id: number, outcome: OperationOutcome, at: Date): Promise<void> => {
      this.sql.run(`UPDATE operations SET attempts = attempts + 1,
        state = CASE WHEN @ok THEN 'done' WHEN attempts + 1 >= @max THEN 'failed' ELSE 'queued' END,
        finished_at = CASE WHEN @ok OR attempts + 1 >= @max THEN @at ELSE NULL END, result = @result, claimed_by = NULL, claimed_until = NULL WHERE id = @id`, {
        ok: outcome.ok ? 1 : 0,
        max: outcome.maxAttempts,
        at: at.toISOString(),
        result: JSON.stringify(outcome.result ?? null),
        id,
      })
    },
    claim: async (computerId: number, claim: OperationClaim, at: Date): Promise<Operation[]> => {
      const free = () => this.sql.all<{id: number}>("SELECT id FROM operations WHERE computer_id = ? AND state = 'queued' AND (claimed_until IS NULL OR claimed_until <= ? OR claimed_by = ?) ORDER BY id",
        computerId, at.toISOString(), claim.holder)
      // Nothing free (most contacts): the same answer as a transaction begun a moment earlier, without taking the write lock.
      if (free().length === 0) return []
      return writeYielding(this.db, () => {
        const ids = free()
        for (const {id} of ids) this.sql.run('UPDATE operations SET claimed_by = ?, claimed_until = ? WHERE id = ?', claim.holder, claim.until.toISOString(), id)
        return ids.map(({id}) => operationFrom(this.sql.get<Row>(`${OPERATION} WHERE id = ?`, id)!))
      })
    },
    release: async (ids: number[], holder: string): Promise<void> => {
      if (ids.length === 0) return
      await writeYielding(this.db, () => {
        for (const id of ids) this.sql.run('UPDATE operations SET claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?', id, holder)
      })
    },
  }

  readonly events = {
    store: async (computerId: number, batch: EventBatch, at: Date): Promise<number> =>
      this.transaction(() => {
        let added = 0
        for (const event of batch.events) {
          added += this.sql.run('INSERT OR IGNORE INTO events (computer_id, agent_instance, agent_event_id, at, type, detail, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
            computerId, batch.instance, event.id, event.at, event.type, JSON.stringify(event.detail ?? {}), at.toISOString()).changes
        }

        return added
      })(),
    list: async (filter: EventFilter): Promise<ManagerEvent[]> => {
      const rows = this.sql.all<Row>(`SELECT e.id, e.computer_id AS computerId, c.hostname, e.at, e.type, e.detail, e.received_at AS receivedAt
        FROM events e LEFT JOIN computers c ON c.id = e.computer_id
        WHERE (@computerId IS NULL OR e.computer_id = @computerId) AND e.at >= @since AND (@type IS NULL OR e.type = @type)
        ORDER BY e.at DESC, e.id DESC LIMIT @limit`, {computerId: filter.computerId ?? null, since: filter.since ?? '', type: filter.type ?? null, limit: filter.limit ?? 1000})
      return rows.reverse().map((r) => ({...r, detail: JSON.parse(r.detail as string)}) as ManagerEvent)
    },
  }

  readonly policies = {
    list: async (): Promise<Policy[]> => this.sql.all<Row>(`${POLICY} ORDER BY name`).map((r) => policyFrom(r)!),
    find: async (ref: string): Promise<Policy | undefined> =>
      policyFrom(/^\d+$/.test(ref) ? this.sql.get<Row>(`${POLICY} WHERE id = ? OR name = ?`, Number(ref), ref) : this.sql.get<Row>(`${POLICY} WHERE name = ?`, ref)),
    save: async (change: PolicyVersion): Promise<{policy: Policy; queued: number; existed: boolean}> =>
      this.transaction(() => {
        const existing = policyFrom(this.sql.get<Row>(`${POLICY} WHERE name = ?`, change.name))
        if (existing && !change.replace) return {policy: existing, queued: 0, existed: true}
        const version = (existing?.version ?? 0) + 1
        const at = change.at.toISOString()
        const document = JSON.stringify(change.document)
        if (existing) this.sql.run('UPDATE policies SET document = ?, version = ?, sha256 = ?, updated_at = ? WHERE id = ?', document, version, change.sha256(version), at, existing.id)
        else this.sql.run('INSERT INTO policies (name, document, version, sha256, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', change.name, document, version, change.sha256(version), at, at)
        let queued = 0
        if (existing) {
          for (const row of this.sql.all<{id: number}>("SELECT id FROM computers WHERE policy = ? AND state = 'activated'", change.name)) {
            this.queueUnlessQueued(row.id, 'SetSecurityConfiguration', change.at)
            queued++
          }
        }

        return {policy: policyFrom(this.sql.get<Row>(`${POLICY} WHERE name = ?`, change.name))!, queued, existed: Boolean(existing)}
      })(),
  }

  readonly settings = {
    all: async (): Promise<Map<string, string>> => new Map(this.sql.all<{name: string; value: string}>('SELECT name, value FROM settings').map((r) => [r.name, r.value])),
    set: async (name: string, json: string, at: Date): Promise<void> => {
      this.sql.run('INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at', name, json, at.toISOString())
    },
  }

  readonly meta = {
    identity: async (): Promise<Identity> => ({managerGuid: this.getMeta('manager_guid') ?? '', tenantId: this.getMeta('tenant_id') ?? '', createdAt: this.getMeta('created_at') ?? ''}),
    get: async (key: string): Promise<string | undefined> => this.getMeta(key),
    set: async (key: string, value: string): Promise<void> => this.setMeta(key, value),
    create: async (entries: Record<string, string>): Promise<boolean> =>
      this.transaction(() => {
        if (Object.keys(entries).some((key) => this.getMeta(key) !== undefined)) return false
        for (const [key, value] of Object.entries(entries)) this.setMeta(key, value)
        return true
      })(),
  }

  /** Seed the identity rows of a new registry. */
  seed(identity: Identity): void {
    this.transaction(() => {
      this.setMeta('manager_guid', identity.managerGuid)
      this.setMeta('tenant_id', identity.tenantId)
      this.setMeta('created_at', identity.createdAt)
    })()
  }

  readonly journal = {
    record: async (entry: HandshakeEntry, at: Date): Promise<void> => writeYielding(this.db, () => insertJournalEntry(this.sql, entry, at)),
    read: async (query: JournalQuery): Promise<JournalRow[]> => readJournalEntries(this.sql, query) as JournalRow[],
    lastId: async (): Promise<number> => lastJournalId(this.sql),
  }

  private recordCertificate(cert: IssuedCertificate, at: Date): void {
    this.sql.run('INSERT INTO certificates (serial, sha256, subject, not_before, not_after, issued_at, pem) VALUES (?, ?, ?, ?, ?, ?, ?)',
      cert.serial, cert.sha256, cert.subject, cert.notBefore, cert.notAfter, at.toISOString(), cert.pem)
  }

  private invitationCheck(secretSha256: string, at: Date): {invitation: Invitation} | {refused: InvitationRefusal} {
    const invitation = this.sql.get<Invitation>(`${INVITATION} WHERE secret_sha256 = ?`, secretSha256)
    const refused = invitationRefusal(invitation, at)
    return refused ? {refused} : {invitation: invitation!}
  }

  readonly nodes = {
    list: async (): Promise<ManagerNode[]> => this.sql.all<Row>(`${NODE} ORDER BY id`).map((row) => nodeFrom(row)!),
    get: async (name: string): Promise<ManagerNode | undefined> => nodeFrom(this.sql.get<Row>(`${NODE} WHERE name = ?`, name)),
    add: async (node: NewNode, at: Date, options: {invitation?: string} = {}): Promise<{node: ManagerNode} | {refused: InvitationRefusal | 'name-taken'}> =>
      this.transaction((): {node: ManagerNode} | {refused: InvitationRefusal | 'name-taken'} => {
        if (this.sql.get('SELECT 1 FROM nodes WHERE name = ? AND removed_at IS NULL', node.name)) return {refused: 'name-taken'}
        if (options.invitation !== undefined) {
          const checked = this.invitationCheck(options.invitation, at)
          if ('refused' in checked) return checked
          this.sql.run('UPDATE invitations SET used_at = ?, used_by = ? WHERE id = ?', at.toISOString(), node.name, checked.invitation.id)
        }

        this.sql.run('DELETE FROM nodes WHERE name = ?', node.name)
        this.recordCertificate(node.certificate, at)
        this.sql.run('INSERT INTO nodes (name, hostnames, cert_serial, cert_sha256, joined_at) VALUES (?, ?, ?, ?, ?)',
          node.name, JSON.stringify(node.hostnames), node.certificate.serial, node.certificate.sha256, at.toISOString())
        return {node: nodeFrom(this.sql.get<Row>(`${NODE} WHERE name = ?`, node.name))!}
      })(),
    seen: async (name: string, heartbeatAddress: string | null, at: Date): Promise<void> => {
      this.sql.run('UPDATE nodes SET heartbeat_address = ?, last_seen_at = ? WHERE name = ? AND removed_at IS NULL', heartbeatAddress, at.toISOString(), name)
    },
    renewCertificate: async (name: string, certificate: IssuedCertificate, at: Date): Promise<void> => {
      this.transaction(() => {
        this.recordCertificate(certificate, at)
        this.sql.run('UPDATE nodes SET previous_cert_sha256 = cert_sha256, cert_serial = ?, cert_sha256 = ? WHERE name = ?', certificate.serial, certificate.sha256, name)
      })()
    },
    remove: async (name: string, at: Date): Promise<{node: ManagerNode; revoked: number} | undefined> =>
      this.transaction(() => {
        const node = nodeFrom(this.sql.get<Row>(`${NODE} WHERE name = ? AND removed_at IS NULL`, name))
        if (!node) return undefined
        let revoked = 0
        for (const sha256 of [node.certSha256, node.previousCertSha256]) if (sha256 && this.revokeNow(sha256, 'cessationOfOperation', at)) revoked++
        this.sql.run('UPDATE nodes SET removed_at = ?, heartbeat_address = NULL WHERE id = ?', at.toISOString(), node.id)
        return {node: nodeFrom(this.sql.get<Row>(`${NODE} WHERE id = ?`, node.id))!, revoked}
      })(),
  }

  readonly invitations = {
    create: async (invitation: Invitation): Promise<void> => {
      this.sql.run('INSERT INTO invitations (id, secret_sha256, created_at, expires_at, created_by, used_at, used_by) VALUES (?, ?, ?, ?, ?, ?, ?)',
        invitation.id, invitation.secretSha256, invitation.createdAt, invitation.expiresAt, invitation.createdBy, invitation.usedAt, invitation.usedBy)
    },
    list: async (): Promise<Invitation[]> => this.sql.all<Invitation>(`${INVITATION} ORDER BY created_at, id`),
    check: async (secretSha256: string, at: Date): Promise<{invitation: Invitation} | {refused: InvitationRefusal}> => this.invitationCheck(secretSha256, at),
  }

  readonly leases = {
    take: async (name: string, holder: string, until: Date, at: Date): Promise<boolean> =>
      this.sql.run(`INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
        ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, until = excluded.until WHERE leases.until <= ? OR leases.holder = excluded.holder`,
      name, holder, until.toISOString(), at.toISOString()).changes > 0,
    release: async (name: string, holder: string): Promise<void> => {
      this.sql.run('DELETE FROM leases WHERE name = ? AND holder = ?', name, holder)
    },
  }

  readonly registry = {
    isEmpty: async (): Promise<boolean> => REGISTRY_TABLES.every((table) => !this.sql.get(`SELECT 1 FROM ${table} LIMIT 1`)),
    dump: async (table: RegistryTable): Promise<RegistryRow[]> => {
      const json = JSON_COLUMNS[table] ?? []
      const booleans = BOOLEAN_COLUMNS[table] ?? []
      return this.sql.all<Row>(dumpSql(table)).map((row) => {
        for (const column of json) row[column] = row[column] === null ? null : JSON.parse(row[column] as string)
        for (const column of booleans) row[column] = row[column] === null ? null : row[column] === 1
        return row
      })
    },
    load: async (tables: ReadonlyMap<RegistryTable, RegistryRow[]>): Promise<void> => {
      this.transaction(() => {
        if (!REGISTRY_TABLES.every((table) => !this.sql.get(`SELECT 1 FROM ${table} LIMIT 1`))) throw new Error('the registry is not empty')
        // In dependency order (REGISTRY_TABLES), so every reference finds its row.
        for (const table of REGISTRY_TABLES) {
          const json = new Set(JSON_COLUMNS[table] ?? [])
          for (const row of tables.get(table) ?? []) {
            const columns = Object.keys(row).map(checkedColumn)
            const names = columns.map((column) => (table === 'certificates' && column === 'id' ? 'rowid' : column))
            const values = columns.map((column) => (json.has(column) && row[column] !== null ? JSON.stringify(row[column]) : typeof row[column] === 'boolean' ? Number(row[column]) : row[column] ?? null))
            this.sql.run(`INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`, ...values)
          }
        }
      })()
    },
  }
}
