import type pg from 'pg'

import {TetherError, errnoCode} from '../errors.js'

/**
 * PostgreSQL (node-postgres, loaded only when a store on PostgreSQL is opened) for manager nodes
 * sharing one database: a pool, transactions on one client, and numbered migrations recorded in a
 * table, applied under an advisory lock. The SQLite driver's counterpart (platform/sqlite.ts).
 */

let driver: typeof pg | undefined
async function loadDriver(): Promise<typeof pg> {
  // Lazy: node-postgres loads only for a store on PostgreSQL; the embedded engine never needs it.
  driver ??= (await import('pg')).default
  return driver
}

/** tether's advisory-lock key space ('teth'); the second key says what is locked. */
export const LOCK_SPACE = 0x74657468
const SCHEMA_LOCK = 0

const INT8 = 20

/** The URL for messages: never its password (in the user part or as a parameter). */
export function redactedUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // Never echo the text: it may hold a password.
    throw new TetherError('usage', 'bad-database-url', 'the database URL is not a valid URL', {hint: 'write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE'})
  }

  parsed.password = ''
  for (const key of [...parsed.searchParams.keys()]) if (/pass/i.test(key)) parsed.searchParams.delete(key)
  return parsed.toString()
}

/** get/all/run over a pool or one client of a transaction, as the SQLite StatementCache offers. */
export class Queries {
  constructor(private readonly target: pg.Pool | pg.PoolClient, private readonly failure: (error: unknown) => unknown) {}

  async all<T>(text: string, ...values: unknown[]): Promise<T[]> {
    return (await this.query(text, values)).rows as T[]
  }

  async get<T>(text: string, ...values: unknown[]): Promise<T | undefined> {
    return (await this.all<T>(text, ...values))[0]
  }

  /** How many rows the statement changed. */
  async run(text: string, ...values: unknown[]): Promise<number> {
    return (await this.query(text, values)).rowCount ?? 0
  }

  private async query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.target.query(text, values)
    } catch (error) {
      throw this.failure(error)
    }
  }
}

export interface PostgresOptions {
  /** What the database is, for messages ("the manager database"). */
  what: string
  /** Each entry upgrades the schema from its index to index + 1; never edit a shipped one. */
  migrations: string[]
}

export class Postgres {
  readonly queries: Queries

  private constructor(private readonly pool: pg.Pool, readonly location: string, readonly schemaVersion: number, private readonly failure: (error: unknown) => unknown) {
    this.queries = new Queries(pool, failure)
  }

  /** Connect, then migrate to the latest schema (or refuse a newer one). */
  static async open(url: string, options: PostgresOptions): Promise<Postgres> {
    const location = redactedUrl(url)
    const failure = (error: unknown) => connectionFailure(error, `${options.what} ${location}`) ?? error
    const {Pool, TypeOverrides} = await loadDriver()
    // Ids and counts are BIGINT; as numbers they stay exact far beyond any registry's size.
    const types = new TypeOverrides()
    types.setTypeParser(INT8, Number)
    // A server that never answers fails the command in 10 s instead of hanging it.
    const pool = new Pool({connectionString: url, types, connectionTimeoutMillis: 10_000})
    // An idle client's error (the server restarted) must not crash the process: the next query fails and says so.
    pool.on('error', () => undefined)
    try {
      return new Postgres(pool, location, await migrate(pool, options, location, failure), failure)
    } catch (error) {
      await pool.end()
      throw error
    }
  }

  /** Run `work` in one transaction on one client, committed when it returns, rolled back when it throws. */
  async transaction<T>(work: (queries: Queries) => Promise<T>): Promise<T> {
    const client = await checkout(this.pool, this.failure)
    const queries = new Queries(client, this.failure)
    try {
      await queries.run('BEGIN')
      const result = await work(queries)
      await queries.run('COMMIT')
      checkin(client, false)
      return result
    } catch (error) {
      // A client whose rollback fails is broken: destroy it rather than return it to the pool.
      const rolledBack = await client.query('ROLLBACK').then(() => true, () => false)
      checkin(client, !rolledBack)
      throw error
    }
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}

/**
 * Apply the missing migrations, each in its own transaction, holding a session advisory lock so
 * that nodes starting together migrate once: the second waits, then finds nothing left to do.
 */
async function migrate(pool: pg.Pool, options: PostgresOptions, location: string, failure: (error: unknown) => unknown): Promise<number> {
  const client = await checkout(pool, failure)
  const queries = new Queries(client, failure)
  let version = 0
  try {
    await queries.run('SELECT pg_advisory_lock($1, $2)', LOCK_SPACE, SCHEMA_LOCK)
    // The record table comes with the first migration, so a failed one leaves the database as it was.
    const recorded = (await queries.get<{present: boolean}>("SELECT to_regclass('tether_migrations') IS NOT NULL AS present"))!.present
    if (recorded) version = (await queries.get<{version: number}>('SELECT coalesce(max(version), 0) AS version FROM tether_migrations'))!.version
    const latest = options.migrations.length
    if (version > latest) {
      throw new TetherError('refused', 'schema-too-new', `${options.what} ${location} has schema version ${version}, newer than this tether supports (${latest})`, {
        hint: 'upgrade tether to the version that wrote it; nothing was changed',
      })
    }

    for (; version < latest; version++) {
      try {
        await queries.run('BEGIN')
        if (version === 0) await queries.run('CREATE TABLE IF NOT EXISTS tether_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)')
        await client.query(options.migrations[version])
        await queries.run('INSERT INTO tether_migrations (version, applied_at) VALUES ($1, $2)', version + 1, new Date().toISOString())
        await queries.run('COMMIT')
      } catch (error) {
        if (error instanceof TetherError) throw error
        throw new TetherError('internal', 'migration-failed', `${options.what} ${location} could not be upgraded to schema version ${version + 1} (${(error as Error).message})`, {
          hint: 'point tether at a database of its own (an empty one is set up on first use), or restore it from a backup',
          cause: error,
        })
      }
    }

    await queries.run('SELECT pg_advisory_unlock($1, $2)', LOCK_SPACE, SCHEMA_LOCK)
  } catch (error) {
    // Destroying the connection ends its session: the lock and any open transaction go with it.
    checkin(client, true)
    throw error
  }

  checkin(client, false)
  return version
}

const ignore = () => undefined

/**
 * A client of the pool's for a while. The pool stops listening to a client it hands out, so an
 * error the connection emits between statements (the server went away) would otherwise crash the
 * process; the next statement on it fails and reports it instead.
 */
async function checkout(pool: pg.Pool, failure: (error: unknown) => unknown): Promise<pg.PoolClient> {
  try {
    const client = await pool.connect()
    client.on('error', ignore)
    return client
  } catch (error) {
    throw failure(error)
  }
}

function checkin(client: pg.PoolClient, destroy: boolean): void {
  client.removeListener('error', ignore)
  client.release(destroy)
}

/** Network errors, and the server shutting down (57P01, 57P02) or not yet accepting connections (57P03). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT', '57P01', '57P02', '57P03'])

/** The TetherError for a failure to reach or enter the database; undefined for any other error. */
function connectionFailure(error: unknown, what: string): TetherError | undefined {
  if (error instanceof TetherError) return error
  const codes = [errnoCode(error), ...((error as {errors?: unknown[]})?.errors ?? []).map(errnoCode)]
  const message = (error as Error)?.message ?? String(error)
  if (codes.includes('28P01')) {
    return new TetherError('refused', 'database-auth-failed', `${what} refused the credentials (${message})`, {
      hint: 'correct the user name and password in the URL (or PGPASSWORD, ~/.pgpass)',
      cause: error,
    })
  }

  if (codes.includes('28000')) {
    return new TetherError('refused', 'database-auth-failed', `${what} refused the connection (${message})`, {
      hint: 'allow this user and host in the server\'s pg_hba.conf, or connect as a user it admits',
      cause: error,
    })
  }

  if (codes.includes('3D000')) {
    return new TetherError('notFound', 'database-missing', `${what} does not exist (${message})`, {
      hint: 'create it (createdb DATABASE, or CREATE DATABASE on the server), or correct the database name in the URL',
      cause: error,
    })
  }

  // pg's own errors carry no code: a connection that timed out, or that the server closed.
  const lost = codes[0] === undefined && /timeout exceeded when trying to connect|connection timeout|Connection terminated|not queryable/i.test(message)
  if (lost || codes.some((code) => code !== undefined && UNREACHABLE.has(code))) {
    return new TetherError('unreachable', 'database-unreachable', `${what} cannot be reached (${codes.find(Boolean) ?? message})`, {
      hint: 'start the PostgreSQL server, or correct the host and port in the URL',
      cause: error,
    })
  }

  return undefined
}
