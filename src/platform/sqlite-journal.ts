import type {StatementCache} from './sqlite.js'

/**
 * The handshake journal table, the same in the manager's registry and the agent's database: every
 * TLS handshake attempt, accepted or refused, with a stable reason. Bounded: the oldest roll off.
 * (The entry's meaning is channel/journal.ts's; here it is only columns.)
 */

export const JOURNAL_MAX_ENTRIES = 10_000

export const JOURNAL_DDL = `
  CREATE TABLE handshakes (
    id              INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    tls_role        TEXT NOT NULL,
    http_role       TEXT NOT NULL,
    peer_address    TEXT,
    context         TEXT NOT NULL,
    protocol        TEXT,
    cipher          TEXT,
    peer_sha256     TEXT,
    peer_subject    TEXT,
    result          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    detail          TEXT
  );
`

export interface JournalColumns {
  tlsRole: string
  httpRole: string
  peerAddress?: string
  context: string
  protocol?: string
  cipher?: string
  peerSha256?: string
  peerSubject?: string
  result: string
  reason: string
  detail?: string
}

export function insertJournalEntry(sql: StatementCache, entry: JournalColumns, at: Date): void {
  const info = sql.run(`INSERT INTO handshakes (at, tls_role, http_role, peer_address, context, protocol, cipher, peer_sha256, peer_subject, result, reason, detail)
    VALUES (@at, @tlsRole, @httpRole, @peerAddress, @context, @protocol, @cipher, @peerSha256, @peerSubject, @result, @reason, @detail)`, {
    at: at.toISOString(),
    tlsRole: entry.tlsRole,
    httpRole: entry.httpRole,
    peerAddress: entry.peerAddress ?? null,
    context: entry.context,
    protocol: entry.protocol ?? null,
    cipher: entry.cipher ?? null,
    peerSha256: entry.peerSha256 ?? null,
    peerSubject: entry.peerSubject ?? null,
    result: entry.result,
    reason: entry.reason,
    detail: entry.detail ?? null,
  })
  const id = Number(info.lastInsertRowid)
  // Trim in batches, not on every insert: one DELETE per hundred entries keeps the bound cheap.
  if (id % 100 === 0) sql.run('DELETE FROM handshakes WHERE id <= ?', id - JOURNAL_MAX_ENTRIES)
}

export function readJournalEntries(sql: StatementCache, query: {sinceId?: number; since?: string; limit?: number}): Array<JournalColumns & {id: number; at: string}> {
  return sql.all<JournalColumns & {id: number; at: string}>(`SELECT id, at, tls_role AS tlsRole, http_role AS httpRole, peer_address AS peerAddress, context, protocol, cipher,
    peer_sha256 AS peerSha256, peer_subject AS peerSubject, result, reason, detail
    FROM handshakes WHERE id > ? AND at >= ? ORDER BY id DESC LIMIT ?`, query.sinceId ?? 0, query.since ?? '', query.limit ?? JOURNAL_MAX_ENTRIES).reverse()
}

export function lastJournalId(sql: StatementCache): number {
  return sql.get<{id: number}>('SELECT coalesce(max(id), 0) AS id FROM handshakes')!.id
}
