import {JOURNAL_DDL} from '../../platform/sqlite-journal.js'

/**
 * The embedded registry's schema: each entry upgrades it from version index to index + 1, recorded
 * in SQLite's user_version. Never edit a shipped entry; add one.
 */
export const SQLITE_MIGRATIONS: string[] = [
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
    id                   INTEGER PRIMARY KEY,
    guid                 TEXT NOT NULL UNIQUE,
    hostname             TEXT NOT NULL,
    display_name         TEXT,
    description          TEXT,
    group_name           TEXT,
    policy               TEXT,
    address              TEXT,
    mode                 TEXT NOT NULL DEFAULT 'bidirectional',
    state                TEXT NOT NULL,
    host_info            TEXT,
    cert_serial          TEXT,
    cert_sha256          TEXT,
    created_at           TEXT NOT NULL,
    activated_at         TEXT,
    last_seen_at         TEXT
  );
  CREATE INDEX computers_hostname ON computers(hostname);
  CREATE TABLE certificates (
    serial            TEXT PRIMARY KEY,
    computer_id       INTEGER REFERENCES computers(id) ON DELETE SET NULL,
    sha256            TEXT NOT NULL UNIQUE,
    subject           TEXT NOT NULL,
    not_before        TEXT NOT NULL,
    not_after         TEXT NOT NULL,
    issued_at         TEXT NOT NULL,
    revoked_at        TEXT,
    revocation_reason TEXT
  );
  `,
  // 2: the handshake journal.
  JOURNAL_DDL,
  // 3: per-computer heartbeat overrides and the queue of operations awaiting a contact.
  `
  ALTER TABLE computers ADD COLUMN heartbeat_interval_s INTEGER;
  ALTER TABLE computers ADD COLUMN missed_heartbeats INTEGER;
  CREATE TABLE operations (
    id          INTEGER PRIMARY KEY,
    computer_id INTEGER NOT NULL REFERENCES computers(id) ON DELETE CASCADE,
    command     TEXT NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued',
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    result      TEXT
  );
  CREATE INDEX operations_queued ON operations(computer_id, state);
  `,
  // 4: policies, the configuration each computer reports as applied, events picked up from
  // agents (unique per agent database and event id, so a re-delivered event is never stored
  // twice), and the issued certificate itself (configurations are encrypted to it).
  `
  CREATE TABLE policies (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    document   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  ALTER TABLE computers ADD COLUMN config_policy TEXT;
  ALTER TABLE computers ADD COLUMN config_version INTEGER;
  ALTER TABLE computers ADD COLUMN config_sha256 TEXT;
  ALTER TABLE certificates ADD COLUMN pem TEXT;
  CREATE TABLE events (
    id             INTEGER PRIMARY KEY,
    computer_id    INTEGER REFERENCES computers(id) ON DELETE SET NULL,
    agent_instance TEXT NOT NULL,
    agent_event_id INTEGER NOT NULL,
    at             TEXT NOT NULL,
    type           TEXT NOT NULL,
    detail         TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    UNIQUE (agent_instance, agent_event_id)
  );
  CREATE INDEX events_computer ON events(computer_id, at);
  `,
  // 5: published CRLs (the number sequence every node shares) and an index for certificates by computer.
  `
  CREATE TABLE crls (
    number             INTEGER PRIMARY KEY,
    this_update        TEXT NOT NULL,
    next_update        TEXT NOT NULL,
    revocation_version INTEGER NOT NULL,
    pem                TEXT NOT NULL,
    published_at       TEXT NOT NULL
  );
  CREATE INDEX certificates_computer ON certificates(computer_id);
  `,
  // 6: enrolment tokens (only the SHA-256 of each secret); and for a registry made by an earlier
  // tether, the defaults it ran with written explicitly where the new defaults are stricter, so an
  // upgrade changes no behaviour (a new registry has no meta rows yet when this runs).
  `
  CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    uses_allowed  INTEGER,
    uses          INTEGER NOT NULL DEFAULT 0,
    policy        TEXT,
    group_name    TEXT,
    revoked_at    TEXT
  );
  INSERT OR IGNORE INTO settings (name, value, updated_at)
    SELECT 'agentInitiatedActivation', '"any"', strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE EXISTS (SELECT 1 FROM meta WHERE key = 'created_at');
  INSERT OR IGNORE INTO settings (name, value, updated_at)
    SELECT 'duplicateNamePolicy', '"reactivate"', strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE EXISTS (SELECT 1 FROM meta WHERE key = 'created_at');
  `,
  // 7: certificate renewal: each computer's certificate expiry, the renewal in progress, and a
  // renewal an operator asked for.
  `
  ALTER TABLE computers ADD COLUMN cert_not_before TEXT;
  ALTER TABLE computers ADD COLUMN cert_not_after TEXT;
  ALTER TABLE computers ADD COLUMN renewal_sha256 TEXT;
  ALTER TABLE computers ADD COLUMN renew_requested INTEGER NOT NULL DEFAULT 0;
  UPDATE computers SET cert_not_before = (SELECT not_before FROM certificates WHERE certificates.sha256 = computers.cert_sha256),
    cert_not_after = (SELECT not_after FROM certificates WHERE certificates.sha256 = computers.cert_sha256);
  `,
  // 8: several manager nodes (an embedded registry has none, but keeps the same tables so a
  // migration to PostgreSQL copies every table): the nodes, their one-time invitations, leases
  // (manager-initiated polling shared between nodes) and claims on queued operations.
  `
  CREATE TABLE nodes (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
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
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    created_by    TEXT,
    used_at       TEXT,
    used_by       TEXT
  );
  CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  TEXT NOT NULL
  );
  ALTER TABLE operations ADD COLUMN claimed_by TEXT;
  ALTER TABLE operations ADD COLUMN claimed_until TEXT;
  `,
  // 9: a computer's id is never given again once it is deleted (events, certificates and journal
  // rows keep naming it): the highest deleted id is kept, and new rows are numbered past it.
  `
  CREATE TRIGGER computers_id_high AFTER DELETE ON computers BEGIN
    INSERT INTO meta (key, value) VALUES ('computer_id_high', OLD.id)
      ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), OLD.id);
  END;
  `,
  // 10: the poller's candidates found by index, not by a scan of every computer once a second:
  // the manager-initiated computers, and the computers with an operation queued.
  `
  CREATE INDEX computers_manager_initiated ON computers(id) WHERE mode = 'manager-initiated';
  CREATE INDEX operations_state ON operations(state, computer_id);
  `,
]
