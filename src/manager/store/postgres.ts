import type {HandshakeEntry, JournalRow} from '../../channel/journal.js'
import type {CommandName} from '../../protocol/messages.js'
import {LOCK_SPACE, Postgres, Queries} from '../../platform/postgres.js'
import {JOURNAL_MAX_ENTRIES} from '../../platform/sqlite-journal.js'
import {POSTGRES_MIGRATIONS} from './postgres-schema.js'
import {GENERATED_KEYS, TABLE_KEYS, TEXT_KEYED, checkedColumn} from './registry-copy.js'
import {invitationRefusal, tokenRefusal} from './rules.js'
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

/**
 * The shared engine: one PostgreSQL database several manager nodes use at once, operation for
 * operation what the SQLite engine (store/sqlite.ts) does. Each multi-statement operation is one
 * transaction at READ COMMITTED; where two nodes could interleave, a lock orders them (said at
 * each). Locks are always taken computers, then certificates, then meta, so none can deadlock.
 */

const COMPUTER = `SELECT id, guid, hostname, display_name AS "displayName", description, group_name AS "group", policy, address, mode, state,
  host_info AS "hostInfo", cert_serial AS "certSerial", cert_sha256 AS "certSha256", created_at AS "createdAt", activated_at AS "activatedAt",
  last_seen_at AS "lastSeenAt", heartbeat_interval_s AS "heartbeatIntervalSeconds", missed_heartbeats AS "missedHeartbeats",
  config_policy AS "configPolicy", config_version AS "configVersion", config_sha256 AS "configSha256",
  cert_not_before AS "certNotBefore", cert_not_after AS "certNotAfter", renewal_sha256 AS "renewalSha256", renew_requested AS "renewRequested" FROM computers`

const OPERATION = 'SELECT id, computer_id AS "computerId", command, body, state, attempts, created_at AS "createdAt", finished_at AS "finishedAt", result FROM operations'

const TOKEN = 'SELECT id, secret_sha256 AS "secretSha256", created_at AS "createdAt", expires_at AS "expiresAt", uses_allowed AS "usesAllowed", uses, policy, group_name AS "group", revoked_at AS "revokedAt" FROM tokens'

const POLICY = 'SELECT id, name, document, version, sha256, created_at AS "createdAt", updated_at AS "updatedAt" FROM policies'

const JOURNAL = `SELECT id, at, tls_role AS "tlsRole", http_role AS "httpRole", peer_address AS "peerAddress", context, protocol, cipher,
  peer_sha256 AS "peerSha256", peer_subject AS "peerSubject", result, reason, detail FROM handshakes`

const NODE = `SELECT id, name, hostnames, cert_serial AS "certSerial", cert_sha256 AS "certSha256", previous_cert_sha256 AS "previousCertSha256",
  heartbeat_address AS "heartbeatAddress", joined_at AS "joinedAt", last_seen_at AS "lastSeenAt", removed_at AS "removedAt" FROM nodes`

const INVITATION = 'SELECT id, secret_sha256 AS "secretSha256", created_at AS "createdAt", expires_at AS "expiresAt", created_by AS "createdBy", used_at AS "usedAt", used_by AS "usedBy" FROM invitations'

/** Saving a policy holds this advisory lock on its name (the second key is the name's hash). */
const POLICY_LOCK = LOCK_SPACE + 1
/** Reserving a computer name holds this advisory lock on the name. */
const NAME_LOCK = LOCK_SPACE + 2
/** Adding a node holds this advisory lock on its name. */
const NODE_LOCK = LOCK_SPACE + 3

/** Rows a load inserts per statement. */
const LOAD_BATCH = 500

function nodeFrom(row: (Omit<ManagerNode, 'hostnames'> & {hostnames: string}) | undefined): ManagerNode | undefined {
  return row ? {...row, hostnames: JSON.parse(row.hostnames) as string[]} : undefined
}

/** Text keys sort in byte order, as SQLite sorts them, whatever the column's collation. */
const orderBy = (table: RegistryTable) => (TEXT_KEYED.includes(table) ? `${TABLE_KEYS[table]} COLLATE "C"` : TABLE_KEYS[table])

/** SQLite reads a negative LIMIT as none; PostgreSQL reads NULL so. */
const limitOf = (limit: number) => (limit < 0 ? null : limit)

export class PostgresManagerStore implements ManagerStore {
  readonly engine = 'postgres' as const
  private readonly sql: Queries

  private constructor(private readonly db: Postgres) {
    this.sql = db.queries
  }

  /** Connect to the database at `url`, creating or upgrading its schema. */
  static async open(url: string): Promise<PostgresManagerStore> {
    return new PostgresManagerStore(await Postgres.open(url, {what: 'the manager database', migrations: POSTGRES_MIGRATIONS}))
  }

  get location(): string {
    return this.db.location
  }

  /** The version this store found or brought the schema to when it opened. */
  get schemaVersion(): number {
    return this.db.schemaVersion
  }

  async close(): Promise<void> {
    await this.db.close()
  }

  /** Keyset pages: no cursor holds a connection of the pool between pages. */
  private async *computersInPages(pageSize: number): AsyncGenerator<Computer[]> {
    for (let after = 0; ;) {
      const rows = await this.sql.all<Computer>(`${COMPUTER} WHERE id > $1 ORDER BY id LIMIT $2`, after, pageSize)
      if (rows.length > 0) yield rows
      if (rows.length < pageSize) return
      after = rows.at(-1)!.id
    }
  }

  private async computer(sql: Queries, id: number): Promise<Computer | undefined> {
    return sql.get<Computer>(`${COMPUTER} WHERE id = $1`, id)
  }

  private async queuedOf(computerId: number): Promise<Operation[]> {
    return this.sql.all<Operation>(`${OPERATION} WHERE computer_id = $1 AND state = 'queued' ORDER BY id`, computerId)
  }

  /**
   * Queue `command` for each computer that has none queued. Their rows are locked first, in id
   * order; the check then runs in a later statement, whose READ COMMITTED snapshot sees what a
   * concurrent caller committed before releasing the lock, so two callers never both queue. NO KEY
   * UPDATE: it still lets events and operations that merely reference the computer be inserted.
   */
  private async queueUnlessQueued(sql: Queries, computerIds: number[], command: CommandName, at: Date): Promise<void> {
    await sql.run('SELECT id FROM computers WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE', computerIds)
    await sql.run(`INSERT INTO operations (computer_id, command, body, created_at)
      SELECT t.computer_id, $2::text, '{}', $3 FROM unnest($1::bigint[]) AS t(computer_id)
      WHERE NOT EXISTS (SELECT 1 FROM operations o WHERE o.computer_id = t.computer_id AND o.state = 'queued' AND o.command = $2::text)
      ORDER BY t.computer_id`, computerIds, command, at.toISOString())
  }

  /**
   * Revoke unless revoked. The UPDATE's row lock makes a concurrent revocation of the same
   * certificate wait and then find it revoked. The CRL number is a counter row bumped by one
   * upsert: its row lock serialises nodes until commit, so no two revocations share a number and,
   * unlike a sequence, a rolled-back one leaves no gap.
   */
  private async revokeNow(sql: Queries, sha256: string, reason: RevocationReasonName, at: Date): Promise<boolean> {
    const changed = (await sql.run('UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE sha256 = $3 AND revoked_at IS NULL', at.toISOString(), reason, sha256)) > 0
    if (changed) await sql.run("INSERT INTO meta (key, value) VALUES ('crl_number', '1') ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text")
    return changed
  }

  private async getMeta(key: string): Promise<string | undefined> {
    return (await this.sql.get<{value: string}>('SELECT value FROM meta WHERE key = $1', key))?.value
  }

  readonly computers = {
    count: async (): Promise<number> => (await this.sql.get<{n: number}>('SELECT count(*) AS n FROM computers'))!.n,
    list: async (): Promise<Computer[]> => this.sql.all<Computer>(`${COMPUTER} ORDER BY id`),
    // Two indexed lookups (migration 6), not a scan of every computer: the poller asks once a second.
    pollCandidates: async (): Promise<Computer[]> =>
      this.sql.all<Computer>(`${COMPUTER} WHERE id IN (SELECT id FROM computers WHERE mode = 'manager-initiated' UNION SELECT computer_id FROM operations WHERE state = 'queued')
      AND state IN ('activated', 'deactivation-pending') AND address IS NOT NULL AND address <> '' AND mode <> 'agent-initiated' ORDER BY id`),
    pages: (pageSize = 1000): AsyncIterable<Computer[]> => this.computersInPages(pageSize),
    get: async (id: number): Promise<Computer | undefined> => this.computer(this.sql, id),
    // lower() under "C" folds ASCII letters only, as SQLite's NOCASE does.
    matching: async (ref: string): Promise<Computer[]> =>
      this.sql.all<Computer>(`${COMPUTER} WHERE lower(guid) = lower($1::text COLLATE "C") OR hostname = $1 OR display_name = $1 OR address = $1 ORDER BY id`, ref),
    byHostname: async (hostname: string): Promise<Computer[]> => this.sql.all<Computer>(`${COMPUTER} WHERE hostname = $1 ORDER BY id`, hostname),
    byCertificate: async (sha256: string): Promise<Computer | undefined> =>
      this.sql.get<Computer>(`${COMPUTER} WHERE id = (SELECT computer_id FROM certificates WHERE sha256 = $1)`, sha256),

    // Concurrent claims of one name wait on an advisory lock on it, so the check and the insert are one step.
    reserve: async (claim: {guid: string; hostname: string; unique: boolean; staleAfterMs: number}, at: Date): Promise<boolean> =>
      this.db.transaction(async (sql) => {
        await sql.run('SELECT pg_advisory_xact_lock($1, hashtext($2))', NAME_LOCK, claim.hostname)
        await sql.run("DELETE FROM computers WHERE state = 'activating' AND hostname = $1 AND created_at < $2", claim.hostname, new Date(at.getTime() - claim.staleAfterMs).toISOString())
        if (claim.unique && (await sql.get('SELECT 1 FROM computers WHERE hostname = $1 AND guid <> $2', claim.hostname, claim.guid))) return false
        await sql.run("INSERT INTO computers (guid, hostname, state, created_at) VALUES ($1, $2, 'activating', $3) ON CONFLICT (guid) DO NOTHING", claim.guid, claim.hostname, at.toISOString())
        return true
      }),

    release: async (guid: string): Promise<void> => {
      await this.sql.run("DELETE FROM computers WHERE guid = $1 AND state = 'activating'", guid)
    },

    // ON CONFLICT makes concurrent activations of one GUID a single computer: the later one waits, then updates.
    recordActivation: async (record: ActivationRecord, at: Date, options: {cancelQueued?: boolean} = {}): Promise<Computer> =>
      this.db.transaction(async (sql) => {
        if (options.cancelQueued) {
          await sql.run(`UPDATE operations SET state = 'failed', result = '"cancelled: the computer was reactivated"'::jsonb
            WHERE computer_id = (SELECT id FROM computers WHERE guid = $1) AND state = 'queued'`, record.guid)
        }

        const {id} = (await sql.get<{id: number}>(`INSERT INTO computers (guid, hostname, display_name, description, group_name, policy, address, mode, state, host_info,
            cert_serial, cert_sha256, cert_not_before, cert_not_after, created_at, activated_at, last_seen_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'activated', $9::jsonb, $10, $11, $13, $14, $12, $12, $12)
          ON CONFLICT (guid) DO UPDATE SET hostname = EXCLUDED.hostname, display_name = coalesce(EXCLUDED.display_name, computers.display_name),
            description = coalesce(EXCLUDED.description, computers.description), group_name = coalesce(EXCLUDED.group_name, computers.group_name),
            policy = coalesce(EXCLUDED.policy, computers.policy), address = coalesce(EXCLUDED.address, computers.address), mode = EXCLUDED.mode, state = 'activated',
            host_info = EXCLUDED.host_info, cert_serial = EXCLUDED.cert_serial, cert_sha256 = EXCLUDED.cert_sha256, cert_not_before = EXCLUDED.cert_not_before, cert_not_after = EXCLUDED.cert_not_after,
            renewal_sha256 = NULL, renew_requested = false, activated_at = EXCLUDED.activated_at, last_seen_at = EXCLUDED.last_seen_at
          RETURNING id`,
        record.guid, record.hostname, record.displayName ?? null, record.description ?? null, record.group ?? null, record.policy ?? null, record.address ?? null,
        record.mode, JSON.stringify(record.hostInfo), record.certSerial, record.certSha256, at.toISOString(), record.certNotBefore ?? null, record.certNotAfter ?? null))!
        await sql.run('UPDATE certificates SET computer_id = $1 WHERE sha256 = $2', id, record.certSha256)
        return (await this.computer(sql, id))!
      }),

    setCommunication: async (id: number, change: CommunicationChange): Promise<void> => {
      await this.sql.run(`UPDATE computers SET mode = coalesce($2, mode),
        heartbeat_interval_s = CASE WHEN $3::boolean THEN $4::integer ELSE heartbeat_interval_s END,
        missed_heartbeats = CASE WHEN $5::boolean THEN $6::integer ELSE missed_heartbeats END WHERE id = $1`,
      id, change.mode ?? null, change.heartbeatIntervalSeconds !== undefined, change.heartbeatIntervalSeconds ?? null, change.missedHeartbeats !== undefined, change.missedHeartbeats ?? null)
    },

    describe: async (id: number, change: ComputerDescription): Promise<void> => {
      const words = change.classicWords && Object.keys(change.classicWords).length > 0 ? JSON.stringify(change.classicWords) : null
      await this.sql.run(`UPDATE computers SET display_name = coalesce($2, display_name), description = coalesce($3, description), group_name = coalesce($4, group_name),
        host_info = CASE WHEN $5::jsonb IS NULL THEN host_info
          ELSE coalesce(host_info, '{}'::jsonb) || jsonb_build_object('classicWords', coalesce(host_info->'classicWords', '{}'::jsonb) || $5::jsonb) END
        WHERE id = $1`, id, change.displayName ?? null, change.description ?? null, change.group ?? null, words)
    },

    recordContact: async (id: number, contact: ContactRecord): Promise<void> => {
      await this.sql.run(`UPDATE computers SET host_info = coalesce(host_info, '{}'::jsonb) || jsonb_build_object('clock', $2::text), last_seen_at = $3,
        config_policy = $4, config_version = $5, config_sha256 = $6 WHERE id = $1`,
      id, contact.clock, contact.at.toISOString(), contact.applied?.policy ?? null, contact.applied?.version ?? null, contact.applied?.sha256 ?? null)
    },

    recordAppliedConfiguration: async (id: number, applied: AppliedConfiguration | undefined): Promise<void> => {
      await this.sql.run('UPDATE computers SET config_policy = $2, config_version = $3, config_sha256 = $4 WHERE id = $1', id, applied?.policy ?? null, applied?.version ?? null, applied?.sha256 ?? null)
    },

    markReactivationRequired: async (id: number): Promise<void> => {
      await this.sql.run("UPDATE computers SET state = 'reactivation-required' WHERE id = $1 AND state = 'activated'", id)
    },

    beginDeactivation: async (id: number, at: Date): Promise<void> =>
      this.db.transaction(async (sql) => {
        await sql.run("UPDATE computers SET state = 'deactivation-pending' WHERE id = $1", id)
        await this.queueUnlessQueued(sql, [id], 'Deactivate', at)
      }),

    finishDeactivation: async (id: number, options: {remove: boolean; at: Date}): Promise<void> =>
      this.db.transaction(async (sql) => {
        // The computer first (lock order); deleting it needs the key lock, keeping it only the row's.
        const computer = await sql.get<{certSha256: string | null}>(`SELECT cert_sha256 AS "certSha256" FROM computers WHERE id = $1 FOR ${options.remove ? 'UPDATE' : 'NO KEY UPDATE'}`, id)
        if (computer?.certSha256) await this.revokeNow(sql, computer.certSha256, 'cessationOfOperation', options.at)
        await sql.run("UPDATE operations SET state = 'failed', result = '\"cancelled: computer deactivated\"' WHERE computer_id = $1 AND state = 'queued'", id)
        if (options.remove) await sql.run('DELETE FROM computers WHERE id = $1', id)
        else await sql.run("UPDATE computers SET state = 'deactivated' WHERE id = $1", id)
      }),

    assignPolicy: async (id: number, policy: string, at: Date): Promise<void> =>
      this.db.transaction(async (sql) => {
        await sql.run('UPDATE computers SET policy = $2 WHERE id = $1', id, policy)
        await this.queueUnlessQueued(sql, [id], 'SetSecurityConfiguration', at)
      }),

    beginRenewal: async (id: number, sha256: string, expected: RenewalExpectation): Promise<boolean> =>
      (await this.sql.run("UPDATE computers SET renewal_sha256 = $2 WHERE id = $1 AND state = 'activated' AND cert_sha256 IS NOT DISTINCT FROM $3 AND renewal_sha256 IS NOT DISTINCT FROM $4", id, sha256, expected.current, expected.renewal)) > 0,

    // The computer row is locked first (computers, then certificates), so two nodes seeing the
    // renewed certificate at once finish it once.
    finishRenewal: async (id: number, renewed: RenewedCertificate, at: Date): Promise<boolean> =>
      this.db.transaction(async (sql) => {
        const computer = await sql.get<Computer>(`${COMPUTER} WHERE id = $1 FOR UPDATE`, id)
        const own = await sql.get('SELECT 1 FROM certificates WHERE sha256 = $1 AND computer_id = $2 AND revoked_at IS NULL', renewed.sha256, id)
        if (!computer || computer.state !== 'activated' || computer.certSha256 === renewed.sha256 || !own) return false
        for (const {sha256} of await sql.all<{sha256: string}>('SELECT sha256 FROM certificates WHERE computer_id = $1 AND sha256 <> $2 AND revoked_at IS NULL ORDER BY sha256', id, renewed.sha256)) {
          await this.revokeNow(sql, sha256, 'superseded', at)
        }

        // An old row may hold its certificate unlinked (recorded before renewal existed).
        if (computer.certSha256) await this.revokeNow(sql, computer.certSha256, 'superseded', at)
        await sql.run('UPDATE computers SET cert_sha256 = $2, cert_serial = $3, cert_not_before = $4, cert_not_after = $5, renewal_sha256 = NULL, renew_requested = false WHERE id = $1', id, renewed.sha256, renewed.serial, renewed.notBefore, renewed.notAfter)
        return true
      }),

    requestRenewal: async (ids: number[] | 'all'): Promise<number> =>
      ids === 'all'
        ? this.sql.run("UPDATE computers SET renew_requested = true WHERE state = 'activated'")
        : this.sql.run("UPDATE computers SET renew_requested = true WHERE id = ANY($1::bigint[]) AND state = 'activated'", ids),
  }

  readonly certificates = {
    record: async (cert: IssuedCertificate, at: Date, options: {computerId?: number} = {}): Promise<void> => {
      await this.sql.run('INSERT INTO certificates (serial, sha256, subject, not_before, not_after, issued_at, pem, computer_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        cert.serial, cert.sha256, cert.subject, cert.notBefore, cert.notAfter, at.toISOString(), cert.pem, options.computerId ?? null)
    },
    pem: async (sha256: string): Promise<string | undefined> => (await this.sql.get<{pem: string | null}>('SELECT pem FROM certificates WHERE sha256 = $1', sha256))?.pem ?? undefined,
    isIssued: async (sha256: string): Promise<boolean> => (await this.sql.get('SELECT 1 FROM certificates WHERE sha256 = $1', sha256)) !== undefined,
    revocation: async (sha256: string) =>
      this.sql.get<{revokedAt: string | null; reason: string | null}>('SELECT revoked_at AS "revokedAt", revocation_reason AS reason FROM certificates WHERE sha256 = $1', sha256),
    isRevoked: async (sha256: string): Promise<boolean> => (await this.sql.get('SELECT 1 FROM certificates WHERE sha256 = $1 AND revoked_at IS NOT NULL', sha256)) !== undefined,
    revoke: async (sha256: string, reason: RevocationReasonName, at: Date): Promise<boolean> => this.db.transaction((sql) => this.revokeNow(sql, sha256, reason, at)),
    revoked: async (): Promise<RevokedCertificate[]> =>
      this.sql.all<RevokedCertificate>('SELECT serial, sha256, subject, revoked_at AS "revokedAt", revocation_reason AS reason FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at, id'),
    revocationVersion: async (): Promise<number> => Number((await this.getMeta('crl_number')) ?? '0'),
  }

  readonly tokens = {
    create: async (token: EnrolmentToken): Promise<void> => {
      await this.sql.run('INSERT INTO tokens (id, secret_sha256, created_at, expires_at, uses_allowed, uses, policy, group_name, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        token.id, token.secretSha256, token.createdAt, token.expiresAt, token.usesAllowed, token.uses, token.policy, token.group, token.revokedAt)
    },
    // Ties in byte order of id, as SQLite sorts (the column has the database's collation).
    list: async (): Promise<EnrolmentToken[]> => this.sql.all<EnrolmentToken>(`${TOKEN} ORDER BY created_at, id COLLATE "C"`),
    revoke: async (id: string, at: Date): Promise<boolean> => (await this.sql.run('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', at.toISOString(), id)) > 0,
    // The row lock makes two nodes counting the last use of a token wait for each other: one gets it.
    use: async (secretSha256: string, at: Date): Promise<{token: EnrolmentToken} | {refused: TokenRefusal}> =>
      this.db.transaction(async (sql): Promise<{token: EnrolmentToken} | {refused: TokenRefusal}> => {
        const token = await sql.get<EnrolmentToken>(`${TOKEN} WHERE secret_sha256 = $1 FOR UPDATE`, secretSha256)
        const refused = tokenRefusal(token, at)
        if (refused) return {refused}
        await sql.run('UPDATE tokens SET uses = uses + 1 WHERE id = $1', token!.id)
        return {token: {...token!, uses: token!.uses + 1}}
      }),
    unuse: async (id: string): Promise<void> => {
      await this.sql.run('UPDATE tokens SET uses = uses - 1 WHERE id = $1 AND uses > 0', id)
    },
    live: async (at: Date): Promise<number> =>
      (await this.sql.get<{n: number}>('SELECT count(*) AS n FROM tokens WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) AND (uses_allowed IS NULL OR uses < uses_allowed)', at.toISOString()))!.n,
  }

  readonly crls = {
    latest: async (): Promise<PublishedCrl | undefined> =>
      this.sql.get<PublishedCrl>('SELECT number, pem, this_update AS "thisUpdate", next_update AS "nextUpdate", revocation_version AS "revocationVersion", published_at AS "publishedAt" FROM crls ORDER BY number DESC LIMIT 1'),
    latestHead: async (): Promise<Omit<PublishedCrl, 'pem'> | undefined> =>
      this.sql.get<Omit<PublishedCrl, 'pem'>>('SELECT number, this_update AS "thisUpdate", next_update AS "nextUpdate", revocation_version AS "revocationVersion", published_at AS "publishedAt" FROM crls ORDER BY number DESC LIMIT 1'),
    // The primary key decides between two nodes issuing the same number: the second finds it taken.
    publish: async (crl: PublishedCrl): Promise<boolean> =>
      this.db.transaction(async (sql) => {
        const stored = (await sql.run('INSERT INTO crls (number, this_update, next_update, revocation_version, pem, published_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (number) DO NOTHING',
          crl.number, crl.thisUpdate, crl.nextUpdate, crl.revocationVersion, crl.pem, crl.publishedAt)) > 0
        // Only the latest few are ever read; keep the table small.
        if (stored) await sql.run('DELETE FROM crls WHERE number < $1', crl.number - 10)
        return stored
      }),
  }

  readonly operations = {
    queue: async (computerId: number, command: CommandName, body: Record<string, unknown>, at: Date): Promise<Operation> =>
      (await this.sql.get<Operation>(`INSERT INTO operations (computer_id, command, body, created_at) VALUES ($1, $2, $3::jsonb, $4)
        RETURNING id, computer_id AS "computerId", command, body, state, attempts, created_at AS "createdAt", finished_at AS "finishedAt", result`,
      computerId, command, JSON.stringify(body), at.toISOString()))!,
    queued: async (computerId: number): Promise<Operation[]> => this.queuedOf(computerId),
    list: async (computerId?: number): Promise<Operation[]> =>
      computerId === undefined ? this.sql.all<Operation>(`${OPERATION} ORDER BY id`) : this.sql.all<Operation>(`${OPERATION} WHERE computer_id = $1 ORDER BY id`, computerId),
    finish: async (id: number, outcome: OperationOutcome, at: Date): Promise<void> => {
      await this.sql.run(`UPDATE operations SET attempts = attempts + 1,
        state = CASE WHEN $2::boolean THEN 'done' WHEN attempts + 1 >= $3::integer THEN 'failed' ELSE 'queued' END,
        finished_at = CASE WHEN $2::boolean OR attempts + 1 >= $3::integer THEN $4 ELSE NULL END, result = $5::jsonb, claimed_by = NULL, claimed_until = NULL WHERE id = $1`,
      id, outcome.ok, outcome.maxAttempts, at.toISOString(), JSON.stringify(outcome.result ?? null))
    },
    // SKIP LOCKED: a contact claiming at the same moment passes over rows another is claiming; once
    // that one commits, the rows' claim (re-checked on the new row version) keeps them out.
    claim: async (computerId: number, claim: OperationClaim, at: Date): Promise<Operation[]> =>
      (await this.sql.all<Operation>(`UPDATE operations SET claimed_by = $2, claimed_until = $3
        WHERE id IN (SELECT id FROM operations WHERE computer_id = $1 AND state = 'queued' AND (claimed_until IS NULL OR claimed_until <= $4 OR claimed_by = $2)
          ORDER BY id FOR UPDATE SKIP LOCKED)
        RETURNING id, computer_id AS "computerId", command, body, state, attempts, created_at AS "createdAt", finished_at AS "finishedAt", result`,
      computerId, claim.holder, claim.until.toISOString(), at.toISOString())).sort((a, b) => a.id - b.id),
    release: async (ids: number[], holder: string): Promise<void> => {
      await this.sql.run('UPDATE operations SET claimed_by = NULL, claimed_until = NULL WHERE id = ANY($1::bigint[]) AND claimed_by = $2', ids, holder)
    },
  }

  readonly events = {
    // One statement, so atomic alone, inserting in batch order (n); the unique key makes a
    // concurrent delivery of the same event wait, then skip it.
    store: async (computerId: number, batch: EventBatch, at: Date): Promise<number> =>
      this.sql.run(`INSERT INTO events (computer_id, agent_instance, agent_event_id, at, type, detail, received_at)
        SELECT $1, $2, e.id, e.at, e.type, e.detail, $3 FROM jsonb_to_recordset($4::jsonb) AS e(n integer, id bigint, at text, type text, detail jsonb)
        ORDER BY e.n ON CONFLICT (agent_instance, agent_event_id) DO NOTHING`,
      computerId, batch.instance, at.toISOString(), JSON.stringify(batch.events.map((event, n) => ({n, id: event.id, at: event.at, type: event.type, detail: event.detail ?? {}})))),
    list: async (filter: EventFilter): Promise<ManagerEvent[]> =>
      (await this.sql.all<ManagerEvent>(`SELECT e.id, e.computer_id AS "computerId", c.hostname, e.at, e.type, e.detail, e.received_at AS "receivedAt"
        FROM events e LEFT JOIN computers c ON c.id = e.computer_id
        WHERE ($1::bigint IS NULL OR e.computer_id = $1) AND e.at >= $2 AND ($3::text IS NULL OR e.type = $3)
        ORDER BY e.at DESC, e.id DESC LIMIT $4`, filter.computerId ?? null, filter.since ?? '', filter.type ?? null, limitOf(filter.limit ?? 1000))).reverse(),
  }

  readonly policies = {
    list: async (): Promise<Policy[]> => this.sql.all<Policy>(`${POLICY} ORDER BY name`),
    // An id match first, then a name match, as SQLite's lookup returns them.
    find: async (ref: string): Promise<Policy | undefined> =>
      /^\d+$/.test(ref) && Number.isSafeInteger(Number(ref))
        ? this.sql.get<Policy>(`${POLICY} WHERE id = $1 OR name = $2 ORDER BY id = $1 DESC LIMIT 1`, Number(ref), ref)
        : this.sql.get<Policy>(`${POLICY} WHERE name = $1`, ref),
    // The advisory lock on the name serialises saves of one policy across nodes: two creations
    // cannot both insert, and each replacement reads the version the one before it wrote.
    save: async (change: PolicyVersion): Promise<{policy: Policy; queued: number; existed: boolean}> =>
      this.db.transaction(async (sql) => {
        await sql.run('SELECT pg_advisory_xact_lock($1, hashtext($2))', POLICY_LOCK, change.name)
        const existing = await sql.get<Policy>(`${POLICY} WHERE name = $1`, change.name)
        if (existing && !change.replace) return {policy: existing, queued: 0, existed: true}
        const version = (existing?.version ?? 0) + 1
        const at = change.at.toISOString()
        const document = JSON.stringify(change.document)
        if (existing) await sql.run('UPDATE policies SET document = $1::jsonb, version = $2, sha256 = $3, updated_at = $4 WHERE id = $5', document, version, change.sha256(version), at, existing.id)
        else await sql.run('INSERT INTO policies (name, document, version, sha256, created_at, updated_at) VALUES ($1, $2::jsonb, $3, $4, $5, $5)', change.name, document, version, change.sha256(version), at)
        let queued = 0
        if (existing) {
          const ids = (await sql.all<{id: number}>("SELECT id FROM computers WHERE policy = $1 AND state = 'activated' ORDER BY id FOR NO KEY UPDATE", change.name)).map((row) => row.id)
          await this.queueUnlessQueued(sql, ids, 'SetSecurityConfiguration', change.at)
          queued = ids.length
        }

        return {policy: (await sql.get<Policy>(`${POLICY} WHERE name = $1`, change.name))!, queued, existed: Boolean(existing)}
      }),
  }

  readonly settings = {
    all: async (): Promise<Map<string, string>> => new Map((await this.sql.all<{name: string; value: string}>('SELECT name, value FROM settings')).map((r) => [r.name, r.value])),
    set: async (name: string, json: string, at: Date): Promise<void> => {
      await this.sql.run('INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at', name, json, at.toISOString())
    },
  }

  readonly meta = {
    identity: async (): Promise<Identity> => {
      const rows = new Map((await this.sql.all<{key: string; value: string}>("SELECT key, value FROM meta WHERE key IN ('manager_guid', 'tenant_id', 'created_at')")).map((r) => [r.key, r.value]))
      return {managerGuid: rows.get('manager_guid') ?? '', tenantId: rows.get('tenant_id') ?? '', createdAt: rows.get('created_at') ?? ''}
    },
    get: async (key: string): Promise<string | undefined> => this.getMeta(key),
    set: async (key: string, value: string): Promise<void> => {
      await this.sql.run('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', key, value)
    },
    // Two nodes creating at once: the second's insert waits on the first's keys, then finds them taken and writes nothing.
    create: async (entries: Record<string, string>): Promise<boolean> => {
      const keys = Object.keys(entries)
      const taken = new Error('a key exists')
      try {
        return await this.db.transaction(async (sql) => {
          const written = await sql.run('INSERT INTO meta (key, value) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO NOTHING', keys, keys.map((key) => entries[key]))
          // Some were there already: roll back what was written, so it is all or nothing.
          if (written !== keys.length) throw taken
          return true
        })
      } catch (error) {
        if (error === taken) return false
        throw error
      }
    },
  }

  readonly journal = {
    record: async (entry: HandshakeEntry, at: Date): Promise<void> => {
      const {id} = (await this.sql.get<{id: number}>(`INSERT INTO handshakes (at, tls_role, http_role, peer_address, context, protocol, cipher, peer_sha256, peer_subject, result, reason, detail)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
      at.toISOString(), entry.tlsRole, entry.httpRole, entry.peerAddress ?? null, entry.context, entry.protocol ?? null, entry.cipher ?? null,
      entry.peerSha256 ?? null, entry.peerSubject ?? null, entry.result, entry.reason, entry.detail ?? null))!
      // Trim in batches, as the SQLite journal does: one DELETE per hundred entries keeps the bound cheap.
      if (id % 100 === 0) await this.sql.run('DELETE FROM handshakes WHERE id <= $1', id - JOURNAL_MAX_ENTRIES)
    },
    read: async (query: JournalQuery): Promise<JournalRow[]> =>
      (await this.sql.all<JournalRow>(`${JOURNAL} WHERE id > $1 AND at >= $2 ORDER BY id DESC LIMIT $3`, query.sinceId ?? 0, query.since ?? '', limitOf(query.limit ?? JOURNAL_MAX_ENTRIES))).reverse(),
    lastId: async (): Promise<number> => (await this.sql.get<{id: number}>('SELECT coalesce(max(id), 0) AS id FROM handshakes'))!.id,
  }

  private async recordCertificate(sql: Queries, cert: IssuedCertificate, at: Date): Promise<void> {
    await sql.run('INSERT INTO certificates (serial, sha256, subject, not_before, not_after, issued_at, pem) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      cert.serial, cert.sha256, cert.subject, cert.notBefore, cert.notAfter, at.toISOString(), cert.pem)
  }

  private async invitationCheck(sql: Queries, secretSha256: string, at: Date): Promise<{invitation: Invitation} | {refused: InvitationRefusal}> {
    const invitation = await sql.get<Invitation>(`${INVITATION} WHERE secret_sha256 = $1`, secretSha256)
    const refused = invitationRefusal(invitation, at)
    return refused ? {refused} : {invitation: invitation!}
  }

  readonly nodes = {
    list: async (): Promise<ManagerNode[]> => (await this.sql.all<Parameters<typeof nodeFrom>[0]>(`${NODE} ORDER BY id`)).map((row) => nodeFrom(row)!),
    get: async (name: string): Promise<ManagerNode | undefined> => nodeFrom(await this.sql.get(`${NODE} WHERE name = $1`, name)),
    // The advisory lock on the name makes two joins under one name wait for each other; the
    // invitation's row lock makes two joins with one invitation do the same: the second finds it used.
    add: async (node: NewNode, at: Date, options: {invitation?: string} = {}): Promise<{node: ManagerNode} | {refused: InvitationRefusal | 'name-taken'}> =>
      this.db.transaction(async (sql): Promise<{node: ManagerNode} | {refused: InvitationRefusal | 'name-taken'}> => {
        await sql.run('SELECT pg_advisory_xact_lock($1, hashtext($2))', NODE_LOCK, node.name)
        if (await sql.get('SELECT 1 FROM nodes WHERE name = $1 AND removed_at IS NULL', node.name)) return {refused: 'name-taken'}
        if (options.invitation !== undefined) {
          const used = await sql.run('UPDATE invitations SET used_at = $1, used_by = $2 WHERE secret_sha256 = $3 AND used_at IS NULL AND expires_at > $1', at.toISOString(), node.name, options.invitation)
          if (used === 0) return {refused: invitationRefusal(await sql.get<Invitation>(`${INVITATION} WHERE secret_sha256 = $1`, options.invitation), at) ?? 'used'}
        }

        await sql.run('DELETE FROM nodes WHERE name = $1', node.name)
        await this.recordCertificate(sql, node.certificate, at)
        await sql.run('INSERT INTO nodes (name, hostnames, cert_serial, cert_sha256, joined_at) VALUES ($1, $2, $3, $4, $5)',
          node.name, JSON.stringify(node.hostnames), node.certificate.serial, node.certificate.sha256, at.toISOString())
        return {node: nodeFrom(await sql.get(`${NODE} WHERE name = $1`, node.name))!}
      }),
    seen: async (name: string, heartbeatAddress: string | null, at: Date): Promise<void> => {
      await this.sql.run('UPDATE nodes SET heartbeat_address = $1, last_seen_at = $2 WHERE name = $3 AND removed_at IS NULL', heartbeatAddress, at.toISOString(), name)
    },
    renewCertificate: async (name: string, certificate: IssuedCertificate, at: Date): Promise<void> =>
      this.db.transaction(async (sql) => {
        await this.recordCertificate(sql, certificate, at)
        await sql.run('UPDATE nodes SET previous_cert_sha256 = cert_sha256, cert_serial = $1, cert_sha256 = $2 WHERE name = $3', certificate.serial, certificate.sha256, name)
      }),
    // The node's row lock first, then its certificates and the CRL counter (the engine's lock order).
    remove: async (name: string, at: Date): Promise<{node: ManagerNode; revoked: number} | undefined> =>
      this.db.transaction(async (sql) => {
        const node = nodeFrom(await sql.get(`${NODE} WHERE name = $1 AND removed_at IS NULL FOR UPDATE`, name))
        if (!node) return undefined
        let revoked = 0
        for (const sha256 of [node.certSha256, node.previousCertSha256]) if (sha256 && (await this.revokeNow(sql, sha256, 'cessationOfOperation', at))) revoked++
        await sql.run('UPDATE nodes SET removed_at = $1, heartbeat_address = NULL WHERE id = $2', at.toISOString(), node.id)
        return {node: nodeFrom(await sql.get(`${NODE} WHERE id = $1`, node.id))!, revoked}
      }),
  }

  readonly invitations = {
    create: async (invitation: Invitation): Promise<void> => {
      await this.sql.run('INSERT INTO invitations (id, secret_sha256, created_at, expires_at, created_by, used_at, used_by) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        invitation.id, invitation.secretSha256, invitation.createdAt, invitation.expiresAt, invitation.createdBy, invitation.usedAt, invitation.usedBy)
    },
    list: async (): Promise<Invitation[]> => this.sql.all<Invitation>(`${INVITATION} ORDER BY created_at, id`),
    check: async (secretSha256: string, at: Date): Promise<{invitation: Invitation} | {refused: InvitationRefusal}> => this.invitationCheck(this.sql, secretSha256, at),
  }

  readonly leases = {
    // One statement: a concurrent take of the same lease waits on the row, then sees the new holder.
    take: async (name: string, holder: string, until: Date, at: Date): Promise<boolean> =>
      (await this.sql.run(`INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
        ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until WHERE leases.until <= $4 OR leases.holder = EXCLUDED.holder`,
      name, holder, until.toISOString(), at.toISOString())) > 0,
    release: async (name: string, holder: string): Promise<void> => {
      await this.sql.run('DELETE FROM leases WHERE name = $1 AND holder = $2', name, holder)
    },
  }

  private async emptyNow(sql: Queries): Promise<boolean> {
    return (await sql.get<{empty: boolean}>(`SELECT ${REGISTRY_TABLES.map((table) => `NOT EXISTS (SELECT 1 FROM ${table})`).join(' AND ')} AS empty`))!.empty
  }

  readonly registry = {
    isEmpty: async (): Promise<boolean> => this.emptyNow(this.sql),
    dump: async (table: RegistryTable): Promise<RegistryRow[]> => this.sql.all<RegistryRow>(`SELECT * FROM ${table} ORDER BY ${orderBy(table)}`),
    // Each batch is typed by the table's own row type (jsonb_populate_recordset), ids included; the
    // identity sequences then move past the highest id, so new rows never collide with copied ones.
    load: async (tables: ReadonlyMap<RegistryTable, RegistryRow[]>): Promise<void> =>
      this.db.transaction(async (sql) => {
        if (!(await this.emptyNow(sql))) throw new Error('the registry is not empty')
        for (const table of REGISTRY_TABLES) {
          const rows = tables.get(table) ?? []
          for (const row of rows) for (const column of Object.keys(row)) checkedColumn(column)
          for (let start = 0; start < rows.length; start += LOAD_BATCH) {
            await sql.run(`INSERT INTO ${table} OVERRIDING SYSTEM VALUE SELECT * FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)`, JSON.stringify(rows.slice(start, start + LOAD_BATCH)))
          }

          if (GENERATED_KEYS.includes(table)) await sql.run(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM ${table}), false)`)
        }
      }),
  }
}
