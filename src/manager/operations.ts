import type {Database} from '../platform/sqlite.js'
import type {CommandName} from '../protocol/commands.js'

/**
 * Operations queued for a computer: sent at its next contact (a heartbeat in agent-initiated mode,
 * or right away when the manager can reach it). Each is tried at most MAX_ATTEMPTS times.
 */

export const MAX_ATTEMPTS = 5

export interface Operation {
  id: number
  computerId: number
  command: CommandName
  body: Record<string, unknown>
  state: 'queued' | 'done' | 'failed'
  attempts: number
  createdAt: string
  finishedAt: string | null
  result: unknown
}

const SELECT = `SELECT id, computer_id AS computerId, command, body, state, attempts, created_at AS createdAt, finished_at AS finishedAt, result FROM operations`

function fromRow(row: Record<string, unknown>): Operation {
  return {...row, body: JSON.parse(row.body as string), result: row.result ? JSON.parse(row.result as string) : null} as Operation
}

export function queueOperation(db: Database, computerId: number, command: CommandName, body: Record<string, unknown> = {}, now: Date = new Date()): Operation {
  const info = db.prepare('INSERT INTO operations (computer_id, command, body, created_at) VALUES (?, ?, ?, ?)').run(computerId, command, JSON.stringify(body), now.toISOString())
  return fromRow(db.prepare(`${SELECT} WHERE id = ?`).get(info.lastInsertRowid) as Record<string, unknown>)
}

export function queuedOperations(db: Database, computerId: number): Operation[] {
  return (db.prepare(`${SELECT} WHERE computer_id = ? AND state = 'queued' ORDER BY id`).all(computerId) as Array<Record<string, unknown>>).map(fromRow)
}

export function listOperations(db: Database, computerId?: number): Operation[] {
  const rows = computerId === undefined ? db.prepare(`${SELECT} ORDER BY id`).all() : db.prepare(`${SELECT} WHERE computer_id = ? ORDER BY id`).all(computerId)
  return (rows as Array<Record<string, unknown>>).map(fromRow)
}

export function finishOperation(db: Database, id: number, outcome: {ok: boolean; result: unknown}, now: Date = new Date()): void {
  db.prepare(`UPDATE operations SET attempts = attempts + 1, state = CASE WHEN ? THEN 'done' WHEN attempts + 1 >= ? THEN 'failed' ELSE 'queued' END,
    finished_at = CASE WHEN ? OR attempts + 1 >= ? THEN ? ELSE NULL END, result = ? WHERE id = ?`)
    .run(outcome.ok ? 1 : 0, MAX_ATTEMPTS, outcome.ok ? 1 : 0, MAX_ATTEMPTS, now.toISOString(), JSON.stringify(outcome.result ?? null), id)
}
