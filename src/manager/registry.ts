import crypto from 'node:crypto'
import fs from 'node:fs'

import type BetterSqlite3 from 'better-sqlite3'

import {TetherError} from '../errors.js'

/**
 * The manager's embedded database: computers, issued certificates, settings and metadata. It is
 * shared by the CLI and a running manager (WAL, busy timeout), and evolves by numbered migrations
 * recorded in SQLite's user_version.
 */

export type Database = BetterSqlite3.Database

/** Each entry upgrades the schema from version index to index + 1; never edit a shipped one. */
const MIGRATIONS: string[] = [
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
]

export const SCHEMA_VERSION = MIGRATIONS.length

let DatabaseCtor: typeof BetterSqlite3 | undefined
async function loadDriver(): Promise<typeof BetterSqlite3> {
  DatabaseCtor ??= (await import('better-sqlite3')).default
  return DatabaseCtor
}

function corrupt(file: string, cause: unknown): TetherError {
  return new TetherError('internal', 'corrupt-database', `the manager database ${file} cannot be read (corrupted or not a tether database)`, {
    hint: 'restore the manager home from a backup, or re-create it with `tether manager init --force`',
    cause,
  })
}

/**
 * Open the registry. `create` makes a new file (init only); otherwise a missing file is an error.
 * A database written by a newer tether is refused rather than silently downgraded.
 */
export async function openRegistry(file: string, options: {create?: boolean; readonly?: boolean} = {}): Promise<Database> {
  if (!options.create && !fs.existsSync(file)) {
    throw new TetherError('notFound', 'database-missing', `the manager database ${file} is missing`, {
      hint: 'run `tether manager init` to create the manager home, or restore it from a backup',
    })
  }

  const Driver = await loadDriver()
  let db: Database
  try {
    db = new Driver(file, {fileMustExist: !options.create})
    db.pragma('busy_timeout = 5000')
    db.pragma('journal_mode = WAL')
    db.pragma('foreign_keys = ON')
    db.pragma('synchronous = NORMAL')
  } catch (error) {
    throw corrupt(file, error)
  }

  try {
    migrate(db, file)
  } catch (error) {
    db.close()
    throw error
  }

  return db
}

function migrate(db: Database, file: string): void {
  let version: number
  try {
    version = db.pragma('user_version', {simple: true}) as number
  } catch (error) {
    throw corrupt(file, error)
  }

  if (version > SCHEMA_VERSION) {
    throw new TetherError(
      'refused',
      'schema-too-new',
      `the manager database ${file} has schema version ${version}, newer than this tether supports (${SCHEMA_VERSION})`,
      {hint: 'upgrade tether to the version that wrote it; nothing was changed'},
    )
  }

  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v])
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', {simple: true}) as number
}

export function getMeta(db: Database, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as {value: string} | undefined
  return row?.value
}

export function setMeta(db: Database, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value)
}

/** Seed identity rows on a fresh registry. */
export function seedRegistry(db: Database, identity: {managerGuid: string; tenantId: string; createdAt: string}): void {
  db.transaction(() => {
    setMeta(db, 'manager_guid', identity.managerGuid)
    setMeta(db, 'tenant_id', identity.tenantId)
    setMeta(db, 'created_at', identity.createdAt)
  })()
}

export function newGuid(): string {
  return crypto.randomUUID().toUpperCase()
}
