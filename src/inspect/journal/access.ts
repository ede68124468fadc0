import fs from 'node:fs'
import path from 'node:path'

import {AGENT_DB_FILE, openAgentDatabase} from '../../agent/database.js'
import {TetherError} from '../../errors.js'
import {ManagerHome} from '../../manager/home.js'
import type {Database} from '../../platform/sqlite.js'

/**
 * The journal view's one seam to the runtimes: where each side keeps its handshake journal, and
 * opening it (the manager's registry, or the agent's own database) to read.
 */

export type JournalKind = 'manager' | 'agent'

/** The database file that holds the journal of the manager home or the agent dsa_core `dir`. */
export function journalFile(kind: JournalKind, dir: string): string {
  return kind === 'manager' ? new ManagerHome(dir).file('database') : path.join(dir, AGENT_DB_FILE)
}

export async function openJournal(source: {kind: JournalKind; dir: string; file: string}): Promise<Database> {
  if (source.kind === 'manager') return new ManagerHome(source.dir).openRegistry()
  // The agent creates its database when it first starts; reading must not create one.
  if (!fs.existsSync(source.file)) {
    throw new TetherError('notFound', 'no-journal', `no handshake journal in ${source.dir} (${AGENT_DB_FILE} not found)`, {
      hint: 'the agent writes it once it has run (`tether agent start`); check --dsa-core',
    })
  }

  return openAgentDatabase(source.dir)
}

// store: the journal's max-id query (for the journal interface).
/** The newest entry's id (0 for an empty journal): where following starts when nothing was shown. */
export function newestJournalId(db: Database): number {
  return (db.prepare('SELECT coalesce(max(id), 0) AS id FROM handshakes').get() as {id: number}).id
}
