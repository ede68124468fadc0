import type {HandshakeEntry} from '../channel/journal.js'
import type {Database} from '../platform/sqlite.js'
import {RateGate} from '../platform/rate-gate.js'
import {recordEvent} from './database.js'

/**
 * Refused handshakes and commands become events for the manager to pick up, but a flood of them
 * must not fill the agent's database (each event stays until the manager acknowledges it): at most
 * `perMinute` events per type and reason a minute, then one `refusals-suppressed` event with the
 * count. The handshake journal still keeps every attempt (it is bounded on its own).
 */

export const REFUSAL_EVENTS_PER_MINUTE = 20

export class RefusalEvents {
  private readonly gate: RateGate

  constructor(private readonly db: Database, options: {perMinute?: number; windowMs?: number} = {}) {
    this.gate = new RateGate({
      perWindow: options.perMinute ?? REFUSAL_EVENTS_PER_MINUTE,
      windowMs: options.windowMs ?? 60_000,
      onSummary: ({key, suppressed, from, to}) => {
        const [type, reason] = key.split(' ')
        this.write(() => recordEvent(this.db, 'refusals-suppressed', {type, reason, count: suppressed, from: from.toISOString(), to: to.toISOString()}))
      },
    })
  }

  record(entry: HandshakeEntry): void {
    const type = entry.reason.startsWith('command-') ? 'command-refused' : 'handshake-refused'
    if (!this.gate.pass(`${type} ${entry.reason}`)) return
    this.write(() => recordEvent(this.db, type, {
      reason: entry.reason,
      peerAddress: entry.peerAddress,
      peerSha256: entry.peerSha256,
      context: entry.context,
      detail: entry.detail,
    }))
  }

  /** Write the counts of the windows still open (before the database closes). */
  flush(): void {
    this.gate.flush()
  }

  private write(insert: () => void): void {
    try {
      if (this.db.open) insert()
    } catch {
      // Events are a diagnostic aid; a full disk must not take the agent down with them.
    }
  }
}
