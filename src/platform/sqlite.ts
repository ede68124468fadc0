import fs from 'node:fs'
import path from 'node:path'

import type BetterSqlite3 from 'better-sqlite3'

import {TetherError, errnoCode} from '../errors.js'
import {sqliteOpener} from './sqlite-driver.js'

/**
 * Embedded SQLite (better-sqlite3, loaded only when a command needs it) with numbered migrations
 * recorded in user_version. Used by the manager registry and the agent's own database.
 */

export type Database = BetterSqlite3.Database

export interface OpenOptions {
  /** What the database is, for messages ("the manager database"). */
  what: string
  /** Each entry upgrades the schema from its index to index + 1; never edit a shipped one. */
  migrations: string[]
  create?: boolean
  /** The fix to suggest when the file is missing or unreadable. */
  missingHint: string
  damagedHint: string
}

export async function openDatabase(file: string, options: OpenOptions): Promise<Database> {
  if (!options.create && !fs.existsSync(file)) {
    throw new TetherError('notFound', 'database-missing', `${options.what} ${file} is missing`, {hint: options.missingHint})
  }

  const corrupt = (cause: unknown) =>
    new TetherError('internal', 'corrupt-database', `${options.what} ${file} cannot be read (corrupted or not a tether database)`, {
      hint: options.damagedHint,
      cause,
    })

  // The native better-sqlite3 addon loads here, only for commands that open a database.
  const open = sqliteOpener()
  let db: Database
  try {
    const isNew = !fs.existsSync(file)
    db = open(file, {fileMustExist: !options.create})
    // Owner-only: registries and journals name peers and hold events. SQLite gives the -wal and
    // -shm files the main file's mode. Only at creation: a reader that is not the owner must not fail.
    if (isNew) fs.chmodSync(file, 0o600)
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    db.pragma('journal_mode = WAL')
    db.pragma('foreign_keys = ON')
    db.pragma('synchronous = NORMAL')
  } catch (error) {
    throw accessProblem(file, options.what, error) ?? corrupt(error)
  }

  try {
    let version: number
    try {
      version = db.pragma('user_version', {simple: true}) as number
    } catch (error) {
      throw corrupt(error)
    }

    const latest = options.migrations.length
    if (version > latest) {
      throw new TetherError('refused', 'schema-too-new', `${options.what} ${file} has schema version ${version}, newer than this tether supports (${latest})`, {
        hint: 'upgrade tether to the version that wrote it; nothing was changed',
      })
    }

    for (let v = version; v < latest; v++) {
      db.transaction(() => {
        db.exec(options.migrations[v])
        db.pragma(`user_version = ${v + 1}`)
      })()
    }
  } catch (error) {
    db.close()
    throw error
  }

  return db
}

/**
 * A database that cannot be opened for writing is a permission or read-only-filesystem problem,
 * never damage: say which (EACCES, EROFS), and never advise re-creating anything.
 */
export function accessProblem(file: string, what: string, cause: unknown): TetherError | undefined {
  const dir = path.dirname(file)
  for (const [target, mode] of [[dir, fs.constants.W_OK | fs.constants.X_OK], [file, fs.constants.R_OK | fs.constants.W_OK]] as const) {
    try {
      if (target === file && !fs.existsSync(file)) continue
      fs.accessSync(target, mode)
    } catch (error) {
      const code = errnoCode(error)
      if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') continue
      const where = target === dir ? `its directory ${dir}` : file
      return new TetherError('usage', code === 'EROFS' ? 'database-read-only' : 'database-permission', `${what} ${file} cannot be opened for writing: ${where} is ${code === 'EROFS' ? 'on a read-only file system' : 'not writable by this user'} (${code}); nothing is damaged`, {
        hint: code === 'EROFS' ? 'mount it read-write, or copy the directory to writable storage' : `run as the user that owns ${dir} (see \`ls -ld ${dir}\`), or give this user write access`,
        cause,
      })
    }
  }

  return undefined
}

/** How long a write waits for another process's write lock. */
export const BUSY_TIMEOUT_MS = 5000

/**
 * Run `fn` as an IMMEDIATE transaction without SQLite's busy handler, which sleeps the whole thread
 * (every connection a daemon serves) in steps of 1, 2, 5 ms... while another process holds the
 * write lock: while busy (only BEGIN can be, so nothing was done), it is tried again after yielding
 * to the event loop, until BUSY_TIMEOUT_MS. For the writes on a daemon's hot path when several
 * processes write one file (`manager start --workers N`).
 */
export async function writeYielding<T>(db: Database, fn: () => T): Promise<T> {
  const toggles = busyToggles(db)
  const transaction = db.transaction(fn)
  const deadline = Date.now() + BUSY_TIMEOUT_MS
  for (let attempt = 0; ; attempt++) {
    toggles.off.get()
    try {
      return transaction.immediate()
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error
    } finally {
      toggles.on.get()
    }

    // At once the first time (the holder may be done), then every millisecond.
    await new Promise((resolve) => (attempt === 0 ? setImmediate(resolve) : setTimeout(resolve, 1)))
  }
}

const toggles = new WeakMap<Database, {off: BetterSqlite3.Statement; on: BetterSqlite3.Statement}>()

/**
 * The busy_timeout pragma as two statements prepared once (a fresh prepare per write costs three
 * times as much). SQLite applies a pragma when it compiles it, and runs a pragma statement once: each
 * run after the first compiles it again, so applies it. Each is run once here, so that from the first
 * write on, every run applies (unprimed, the first write kept the busy handler, which slept the event
 * loop up to the whole timeout).
 */
function busyToggles(db: Database): {off: BetterSqlite3.Statement; on: BetterSqlite3.Statement} {
  let pair = toggles.get(db)
  if (!pair) {
    pair = {off: db.prepare('PRAGMA busy_timeout = 0'), on: db.prepare(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)}
    pair.off.get()
    pair.on.get()
    toggles.set(db, pair)
  }

  return pair
}

function isBusy(error: unknown): boolean {
  return errnoCode(error)?.startsWith('SQLITE_BUSY') === true
}

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', {simple: true}) as number
}

type Parameters = unknown[]

/**
 * Prepared statements, compiled once per database and SQL text: preparing costs about as much as
 * running a small statement, and the same few statements run on every heartbeat.
 */
export class StatementCache {
  private readonly statements = new Map<string, BetterSqlite3.Statement>()
  private readonly rawStatements = new Map<string, BetterSqlite3.Statement>()

  constructor(private readonly db: Database) {}

  private statement(sql: string): BetterSqlite3.Statement {
    let statement = this.statements.get(sql)
    if (!statement) {
      statement = this.db.prepare(sql)
      this.statements.set(sql, statement)
    }

    return statement
  }

  /** Rows as arrays of column values: no object made per row, for a scan that builds its own (of one shape). */
  values(sql: string, ...parameters: Parameters): unknown[][] {
    let statement = this.rawStatements.get(sql)
    if (!statement) {
      statement = this.db.prepare(sql).raw(true)
      this.rawStatements.set(sql, statement)
    }

    return statement.all(...parameters) as unknown[][]
  }

  get<T>(sql: string, ...parameters: Parameters): T | undefined {
    return this.statement(sql).get(...parameters) as T | undefined
  }

  all<T>(sql: string, ...parameters: Parameters): T[] {
    return this.statement(sql).all(...parameters) as T[]
  }

  run(sql: string, ...parameters: Parameters): BetterSqlite3.RunResult {
    return this.statement(sql).run(...parameters)
  }
}

const caches = new WeakMap<Database, StatementCache>()

/** The statement cache of a database connection. */
export function statements(db: Database): StatementCache {
  let cache = caches.get(db)
  if (!cache) {
    cache = new StatementCache(db)
    caches.set(db, cache)
  }

  return cache
}
