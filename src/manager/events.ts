import type {Database} from '../platform/sqlite.js'
import type {AgentEventsReply} from '../protocol/commands.js'

/** Events picked up from agents, stored once each whatever happens between pull and acknowledgement. */

export interface ManagerEvent {
  id: number
  computerId: number | null
  hostname: string | null
  at: string
  type: string
  detail: Record<string, unknown>
  receivedAt: string
}

/** Store a pulled batch; an event already stored (a re-delivery) is ignored. Returns how many were new. */
export function storeAgentEvents(db: Database, computerId: number, reply: AgentEventsReply, now: Date = new Date()): number {
  const insert = db.prepare(`INSERT OR IGNORE INTO events (computer_id, agent_instance, agent_event_id, at, type, detail, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
  return db.transaction(() => {
    let added = 0
    for (const event of reply.events) {
      added += insert.run(computerId, reply.instance, event.id, event.at, event.type, JSON.stringify(event.detail ?? {}), now.toISOString()).changes
    }

    return added
  })()
}

export function listEvents(db: Database, filter: {computerId?: number; since?: string; type?: string; limit?: number} = {}): ManagerEvent[] {
  const rows = db.prepare(`SELECT e.id, e.computer_id AS computerId, c.hostname, e.at, e.type, e.detail, e.received_at AS receivedAt
    FROM events e LEFT JOIN computers c ON c.id = e.computer_id
    WHERE (@computerId IS NULL OR e.computer_id = @computerId) AND e.at >= @since AND (@type IS NULL OR e.type = @type)
    ORDER BY e.at DESC, e.id DESC LIMIT @limit`).all({
    computerId: filter.computerId ?? null,
    since: filter.since ?? '',
    type: filter.type ?? null,
    limit: filter.limit ?? 1000,
  }) as Array<Record<string, unknown>>
  return rows.reverse().map((r) => ({...r, detail: JSON.parse(r.detail as string)}) as ManagerEvent)
}
