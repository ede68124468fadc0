import {TetherError} from '../errors.js'

/**
 * The one parser for times and durations on the command line: `--since 1h` and
 * `--since 2026-05-01T12:00:00Z` everywhere, `--ttl 30m`, `--dsm-retry-interval 300`.
 */

const UNITS: Record<string, number> = {s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}

/** An age or duration: `90s`, `15m`, `2h`, `7d` (a bare number is seconds). Milliseconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const match = /^(\d+)\s*([smhd]?)$/i.exec(text.trim())
  if (!match) {
    throw new TetherError('usage', 'bad-duration', `${what} "${text}" is not a duration`, {hint: 'write a number with a unit: 30s, 15m, 2h, 7d'})
  }

  return Number(match[1]) * UNITS[(match[2] || 's').toLowerCase()]
}

/** `--since`: an ISO 8601 time, or an age such as `90s`, `15m`, `2h`, `7d`. Returns ISO (UTC). */
export function parseSince(text: string, now: Date = new Date()): string {
  const relative = /^(\d+)\s*([smhd])$/i.exec(text.trim())
  if (relative) return new Date(now.getTime() - parseDuration(text)).toISOString()
  const absolute = Date.parse(text)
  if (!Number.isNaN(absolute) && /^\d{4}-\d{2}-\d{2}/.test(text.trim())) return new Date(absolute).toISOString()
  throw new TetherError('usage', 'bad-since', `"${text}" is neither a time nor an age`, {
    hint: 'use an ISO 8601 time (2026-05-01T12:00:00Z) or an age such as 30s, 15m, 2h, 7d',
  })
}
