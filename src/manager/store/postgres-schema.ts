/**
 * The shared registry's schema on PostgreSQL: each entry upgrades it from version index to
 * index + 1, recorded in tether_migrations. Never edit a shipped entry; add one. Version 1 holds
 * what the SQLite engine reached in four.
 *
 * Timestamps stay ISO-8601 text, so every value reads back exactly as written (as on SQLite).
 * Columns that are sorted or compared by range are COLLATE "C": byte order, as SQLite compares,
 * whatever the database's default collation (lower() then folds ASCII only, as NOCASE does).
 * Equality on the other text columns is byte equality under any deterministic collation.
 * Settings stay text: the interface hands their JSON back verbatim, and jsonb would re-format it.
 */
export const POSTGRES_MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE computers (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guid                 TEXT COLLATE "C" NOT NULL UNIQUE,
    hostname             TEXT NOT NULL,
    display_name         TEXT,
    description          TEXT,
    group_name           TEXT,
    policy               TEXT,
    address              TEXT,
    mode                 TEXT NOT NULL DEFAULT 'bidirectional',
    state                TEXT NOT NULL,
    host_info            JSONB,
    cert_serial          TEXT,
    cert_sha256          TEXT,
    created_at           TEXT NOT NULL,
    activated_at         TEXT,
    last_seen_at         TEXT,
    heartbeat_interval_s INTEGER,
    missed_heartbeats    INTEGER,
    config_policy        TEXT,
    config_version       INTEGER,
    config_sha256        TEXT
  );
  CREATE INDEX computers_hostname ON computers (hostname);
  CREATE INDEX computers_guid_any_case ON computers (lower(guid));
  CREATE INDEX computers_policy ON computers (policy);
  -- id: issue order, which revoked() breaks ties with (SQLite uses its rowid).
  CREATE TABLE certificates (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial            TEXT NOT NULL UNIQUE,
    computer_id       BIGINT REFERENCES computers (id) ON DELETE SET NULL,
    sha256            TEXT NOT NULL UNIQUE,
    subject           TEXT NOT NULL,
    not_before        TEXT NOT NULL,
    not_after         TEXT NOT NULL,
    issued_at         TEXT NOT NULL,
    revoked_at        TEXT COLLATE "C",
    revocation_reason TEXT,
    pem               TEXT
  );
  CREATE TABLE operations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    computer_id BIGINT NOT NULL REFERENCES computers (id) ON DELETE CASCADE,
    command     TEXT NOT NULL,
    body        JSONB NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued',
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    result      JSONB
  );
  CREATE INDEX operations_queued ON operations (computer_id, state);
  CREATE TABLE policies (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    document   JSONB NOT NULL,
    version    INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  -- Unique per agent database and event id, so a re-delivered event is never stored twice.
  CREATE TABLE events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    computer_id    BIGINT REFERENCES computers (id) ON DELETE SET NULL,
    agent_instance TEXT NOT NULL,
    agent_event_id BIGINT NOT NULL,
    at             TEXT COLLATE "C" NOT NULL,
    type           TEXT NOT NULL,
    detail         JSONB NOT NULL,
    received_at    TEXT NOT NULL,
    UNIQUE (agent_instance, agent_event_id)
  );
  CREATE INDEX events_computer ON events (computer_id, at);
  CREATE INDEX events_at ON events (at);
  -- The handshake journal (channel/journal.ts), as platform/sqlite-journal.ts has it.
  CREATE TABLE handshakes (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           TEXT COLLATE "C" NOT NULL,
    tls_role     TEXT NOT NULL,
    http_role    TEXT NOT NULL,
    peer_address TEXT,
    context      TEXT NOT NULL,
    protocol     TEXT,
    cipher       TEXT,
    peer_sha256  TEXT,
    peer_subject TEXT,
    result       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    detail       TEXT
  );
  `,
  // 2: published CRLs (the number sequence every node shares) and an index for certificates by computer.
  `
  CREATE TABLE crls (
    number             BIGINT PRIMARY KEY,
    this_update        TEXT NOT NULL,
    next_update        TEXT NOT NULL,
    revocation_version BIGINT NOT NULL,
    pem                TEXT NOT NULL,
    published_at       TEXT NOT NULL
  );
  CREATE INDEX certificates_computer ON certificates (computer_id);
  `,
  // 3: enrolment tokens (only the SHA-256 of each secret).
  `
  CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at    TEXT COLLATE "C" NOT NULL,
    expires_at    TEXT COLLATE "C",
    uses_allowed  BIGINT,
    uses          BIGINT NOT NULL DEFAULT 0,
    policy        TEXT,
    group_name    TEXT,
    revoked_at    TEXT
  );
  `,
  // 4: certificate renewal: each computer's certificate expiry, the renewal in progress, and a
  // renewal an operator asked for.
  `
  ALTER TABLE computers ADD COLUMN cert_not_before TEXT COLLATE "C";
  ALTER TABLE computers ADD COLUMN cert_not_after TEXT COLLATE "C";
  ALTER TABLE computers ADD COLUMN renewal_sha256 TEXT;
  ALTER TABLE computers ADD COLUMN renew_requested BOOLEAN NOT NULL DEFAULT false;
  UPDATE computers SET cert_not_before = (SELECT not_before FROM certificates WHERE certificates.sha256 = computers.cert_sha256),
    cert_not_after = (SELECT not_after FROM certificates WHERE certificates.sha256 = computers.cert_sha256);
  `,
  // 5: several manager nodes: the nodes, their one-time invitations, leases (manager-initiated
  // polling shared between nodes) and claims on queued operations (SELECT ... FOR UPDATE SKIP LOCKED).
  `
  CREATE TABLE nodes (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 TEXT COLLATE "C" NOT NULL UNIQUE,
    hostnames            TEXT NOT NULL,
    cert_serial          TEXT NOT NULL,
    cert_sha256          TEXT NOT NULL,
    previous_cert_sha256 TEXT,
    heartbeat_address    TEXT,
    joined_at            TEXT NOT NULL,
    last_seen_at         TEXT,
    removed_at           TEXT
  );
  CREATE TABLE invitations (
    id            TEXT COLLATE "C" PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at    TEXT COLLATE "C" NOT NULL,
    expires_at    TEXT COLLATE "C" NOT NULL,
    created_by    TEXT,
    used_at       TEXT,
    used_by       TEXT
  );
  CREATE TABLE leases (
    name   TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT NOT NULL,
    until  TEXT COLLATE "C" NOT NULL
  );
  ALTER TABLE operations ADD COLUMN claimed_by TEXT;
  ALTER TABLE operations ADD COLUMN claimed_until TEXT COLLATE "C";
  `,
  // 6: the poller's candidates found by index, not by a scan of every computer once a second:
  // the manager-initiated computers, and the computers with an operation queued.
  `
  CREATE INDEX computers_manager_initiated ON computers (id) WHERE mode = 'manager-initiated';
  CREATE INDEX operations_state ON operations (state, computer_id);
  `,
]
