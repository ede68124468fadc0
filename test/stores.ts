import type {JournalRow} from '../src/channel/journal.js'
import {listEvents, openAgentDatabase, readHandshakes} from '../src/agent/database.js'
import {ManagerHome} from '../src/manager/home.js'
import type {ManagerStore} from '../src/manager/store/store.js'

/**
 * Reading state the way tether itself does: through the manager's store interface and the agent's
 * database module, never by querying their tables (the schema is theirs to change).
 */

/** Open the manager home's store for one look, and close it. */
export async function withStore<T>(home: string, fn: (store: ManagerStore) => Promise<T>): Promise<T> {
  const store = await new ManagerHome(home).openStore()
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

/** The manager's handshake journal, oldest first. */
export function managerJournal(home: string): Promise<JournalRow[]> {
  return withStore(home, (store) => store.journal.read({}))
}

async function withAgentDatabase<T>(dsaCore: string, fn: (db: Awaited<ReturnType<typeof openAgentDatabase>>) => T): Promise<T> {
  const db = await openAgentDatabase(dsaCore)
  try {
    return fn(db)
  } finally {
    db.close()
  }
}

/** The agent's handshake journal, oldest first. */
export function agentJournal(dsaCore: string): Promise<JournalRow[]> {
  return withAgentDatabase(dsaCore, (db) => readHandshakes(db))
}

/** The events an agent still holds for pickup. */
export function agentEvents(dsaCore: string): Promise<Array<{id: number; type: string}>> {
  return withAgentDatabase(dsaCore, (db) => listEvents(db))
}
