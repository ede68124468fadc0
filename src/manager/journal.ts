import type {HandshakeEntry, HandshakeJournal} from '../channel/journal.js'
import type {ManagerContext} from './context.js'

/** The manager's handshake journal, kept in its store. A diagnostic: a failed write never fails the contact. */
export function managerJournal(ctx: ManagerContext): HandshakeJournal {
  return {
    record(entry: HandshakeEntry): void {
      ctx.store.journal.record(entry, ctx.now()).catch(() => undefined)
    },
  }
}
