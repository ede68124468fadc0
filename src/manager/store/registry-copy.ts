import crypto from 'node:crypto'

import type {RegistryRow, RegistryTable} from './store.js'

/**
 * What both engines agree on about copying a registry (tether manager migrate): each table's key,
 * its JSON columns, and one checksum over its rows, so a copy is verified row for row whichever
 * engine it was read from.
 */

/** The column rows are ordered and identified by. */
export const TABLE_KEYS: Record<RegistryTable, string> = {
  meta: 'key',
  settings: 'name',
  computers: 'id',
  certificates: 'id',
  crls: 'number',
  tokens: 'id',
  policies: 'id',
  operations: 'id',
  events: 'id',
  handshakes: 'id',
  nodes: 'id',
  invitations: 'id',
  leases: 'name',
}

/** Tables keyed by text (the others by a number). */
export const TEXT_KEYED: readonly RegistryTable[] = ['meta', 'settings', 'tokens', 'invitations', 'leases']

/** Columns holding JSON: text on SQLite, jsonb on PostgreSQL; parsed in a dump. */
export const JSON_COLUMNS: Partial<Record<RegistryTable, readonly string[]>> = {
  computers: ['host_info'],
  policies: ['document'],
  operations: ['body', 'result'],
  events: ['detail'],
}

/** Columns holding a truth value: 0/1 on SQLite, boolean on PostgreSQL; booleans in a dump. */
export const BOOLEAN_COLUMNS: Partial<Record<RegistryTable, readonly string[]>> = {
  computers: ['renew_requested'],
}

/** Tables whose key PostgreSQL generates (an identity column): a load sets it, then moves the sequence on. */
export const GENERATED_KEYS: readonly RegistryTable[] = ['computers', 'certificates', 'policies', 'operations', 'events', 'handshakes', 'nodes']

/** Column names come from tether's own schema; anything else is refused before it reaches SQL. */
export function checkedColumn(name: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`not a registry column: ${JSON.stringify(name)}`)
  return name
}

/** Keys sorted at every depth: the same row from either engine gives the same text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }

  return JSON.stringify(value ?? null)
}

function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)))
}

export interface TableChecksum {
  table: RegistryTable
  rows: number
  sha256: string
}

/** Row count and SHA-256 of a table's rows in key order (NULL and JSON null are the same value). */
export function tableChecksum(table: RegistryTable, rows: RegistryRow[]): TableChecksum {
  const key = TABLE_KEYS[table]
  const hash = crypto.createHash('sha256')
  for (const row of [...rows].sort((a, b) => compareKeys(a[key], b[key]))) hash.update(`${canonical(row)}\n`)
  return {table, rows: rows.length, sha256: hash.digest('hex')}
}
