import fs from 'node:fs'
import path from 'node:path'

import {AGENT_DB_FILE, lastHandshakeId, openAgentDatabase, readHandshakes} from '../../agent/database.js'
import type {JournalRow} from '../../channel/journal.js'
import {TetherError} from '../../errors.js'
import {ManagerHome} from '../../manager/home.js'

/**
 * The journal view's one seam to the runtimes: where each side keeps its handshake journal, and
 * opening it (the manager's registry, or the agent's own database) to read.
 */

export type JournalKind = 'manager' | 'agent'

/** The database file that holds the journal of the manager home or the agent dsa_core `dir`. */
export function journalFile(kind: JournalKind, dir: string): string {
  return kind === 'manager' ? new ManagerHome(dir).file('database') : path.join(dir, AGENT_DB_FILE)
}

/** One journal, the manager's or an agent's, read the same way. */
export interface JournalReader {
  read(query: {sinceId?: number; since?: string; limit?: number}): Promise<JournalRow[]>
  /** The newest entry's id (0 for an empty journal): where following starts when nothing was shown. */
  lastId(): Promise<number>
  close(): Promise<void>
}

export async function openJournal(source: {kind: JournalKind; dir: string; file: string}): Promise<JournalReader> {
  if (source.kind === 'manager') {
    const store = await new ManagerHome(source.dir).openStore()
    return {read: (query) => store.journal.read(query), lastId: () => store.journal.lastId(), close: () => store.close()}
  }

  // The agent creates its database when it first starts; reading must not create one.
  if (!fs.existsSync(source.file)) {
    throw new TetherError('notFound', 'no-journal', `no handshake journal in ${source.dir} (${AGENT_DB_FILE} not found)`, {
      hint: 'the agent writes it once it has run (`tether agent start`); check --dsa-core',
    })
  }

  const db = await openAgentDatabase(source.dir)
  return {read: async (query) => readHandshakes(db, query), lastId: async () => lastHandshakeId(db), close: async () => void db.close()}
}
