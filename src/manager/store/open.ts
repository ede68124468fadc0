import {PostgresManagerStore} from './postgres.js'
import {SqliteManagerStore} from './sqlite.js'
import type {ManagerStore} from './store.js'

/** A postgres:// or postgresql:// URL names a shared database; anything else is a SQLite file. */
export function isDatabaseUrl(location: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(location)
}

/** Open the manager store at `location`: the PostgreSQL engine for a database URL, else the SQLite file. */
export async function openManagerStore(location: string): Promise<ManagerStore> {
  return isDatabaseUrl(location) ? PostgresManagerStore.open(location) : SqliteManagerStore.open(location)
}
