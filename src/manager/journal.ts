import type {HandshakeEntry, HandshakeJournal} from '../channel/journal.js'
import type {ManagerContext} from './context.js'

/**
 * The manager's handshake journal, kept in its store, and echoed to the daemon log (refusals as
 * warnings). A diagnostic: a failed write never fails the contact.
 */
export function managerJournal(ctx: ManagerContext): HandshakeJournal {
  return {
    record(entry: HandshakeEntry): void {
      ctx.store.journal.record(entry, ctx.now()).catch(() => undefined)
      const fields = {peer: entry.peerAddress, context: entry.context, reason: entry.reason, detail: entry.detail, peerSha256: entry.peerSha256, tlsRole: entry.tlsRole}
      if (entry.result === 'accepted') ctx.log.debug('handshake-accepted', fields)
      else ctx.log.warn(entry.result === 'refused' ? 'handshake-refused' : 'handshake-failed', fields)
    },
  }
}
