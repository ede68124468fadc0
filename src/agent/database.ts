import path from 'node:path'

import type {HandshakeEntry, JournalRow} from '../channel/journal.js'
import {JOURNAL_DDL, insertJournalEntry, lastJournalId, readJournalEntries} from '../platform/sqlite-journal.js'
import {Database, openDatabase, statements} from '../platform/sqlite.js'

/**
 * The agent's own small database in dsa_core (the agent's only SQL): events awaiting pickup by the
 * manager, and the handshake journal.
 */

export const AGENT_DB_FILE = 'ds_agent.db'

const MIGRATIONS = [
  `
  CREATE TABLE events (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    type   TEXT NOT NULL,
    detail TEXT NOT NULL
  );
  `,
  JOURNAL_DDL,
  // 3: event ids must never be reused (the manager deduplicates on them), so AUTOINCREMENT; and
  // an instance id for this database, so a re-created database is told apart.
  `
  CREATE TABLE events_v3 (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    type   TEXT NOT NULL,
    detail TEXT NOT NULL
  );
  INSERT INTO events_v3 (id, at, type, detail) SELECT id, at, type, detail FROM events;
  DROP TABLE events;
  ALTER TABLE events_v3 RENAME TO events;
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  INSERT INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(16))));
  `,
]

export async function openAgentDatabase(dsaCore: string): Promise<Database> {
  return openDatabase(path.join(dsaCore, AGENT_DB_FILE), {
    what: 'the agent database',
    migrations: MIGRATIONS,
    create: true,
    missingHint: 'start the agent once to create it',
    damagedHint: `move ${AGENT_DB_FILE} aside; the agent re-creates it (pending events in it are lost)`,
  })
}

export function recordEvent(db: Database, type: string, detail: Record<string, unknown> = {}, now: Date = new Date()): void {
  statements(db).run('INSERT INTO events (at, type, detail) VALUES (?, ?, ?)', now.toISOString(), type, JSON.stringify(detail))
}

export interface AgentEvent {
  id: number
  at: string
  type: string
  detail: Record<string, unknown>
}

export function agentInstance(db: Database): string {
  return statements(db).get<{value: string}>("SELECT value FROM meta WHERE key = 'instance'")!.value
}

/** Drop events the manager has acknowledged storing; only those. */
export function acknowledgeEvents(db: Database, throughId: number): number {
  return statements(db).run('DELETE FROM events WHERE id <= ?', throughId).changes
}

/** Whether any event awaits pickup (told in GetAgentStatus, so the manager asks only then). */
export function hasEvents(db: Database): boolean {
  return statements(db).get('SELECT 1 AS one FROM events LIMIT 1') !== undefined
}

export function listEvents(db: Database, afterId = 0, limit = 1000): AgentEvent[] {
  const rows = statements(db).all<{id: number; at: string; type: string; detail: string}>('SELECT id, at, type, detail FROM events WHERE id > ? ORDER BY id LIMIT ?', afterId, limit)
  return rows.map((r) => ({...r, detail: JSON.parse(r.detail) as Record<string, unknown>}))
}

/** Record an event from a short-lived process (reset, deactivation) in the agent's database. */
export async function recordEventIn(dsaCore: string, type: string, detail: Record<string, unknown>): Promise<void> {
  const db = await openAgentDatabase(dsaCore)
  try {
    recordEvent(db, type, detail)
  } finally {
    db.close()
  }
}

export function recordHandshake(db: Database, entry: HandshakeEntry, now: Date = new Date()): void {
  insertJournalEntry(statements(db), entry, now)
}

export function readHandshakes(db: Database, query: {sinceId?: number; since?: string; limit?: number} = {}): JournalRow[] {
  return readJournalEntries(statements(db), query) as JournalRow[]
}

export function lastHandshakeId(db: Database): number {
  return lastJournalId(statements(db))
}
