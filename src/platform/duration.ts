import {TetherError} from '../errors.js'

/**
 * The one parser for durations and times on the command line and in settings: a number and a
 * unit, or several (`90s`, `1h30m`, `7d`); `--since` takes one of those as an age, or an ISO time.
 */

const UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}
const PART = /(\d+)(ms|s|m|h|d)/gy

/** Milliseconds in `text`, or undefined when it is not a duration. */
function durationMs(text: string): number | undefined {
  const trimmed = text.trim()
  let total = 0
  let end = 0
  PART.lastIndex = 0
  for (let match = PART.exec(trimmed); match; match = PART.exec(trimmed)) {
    total += Number(match[1]) * UNITS[match[2]]
    end = PART.lastIndex
  }

  return trimmed === '' || end !== trimmed.length ? undefined : total
}

/** Milliseconds in `text`; a usage error naming `what` when it is not a duration. */
export function parseDuration(text: string, what = 'duration'): number {
  const ms = durationMs(text)
  if (ms === undefined) {
    throw new TetherError('usage', 'bad-duration', `${what} "${text}" is not a duration`, {hint: 'write a number and a unit (ms, s, m, h, d), e.g. 30s, 15m, 1h30m, 7d'})
  }

  return ms
}

/** The shortest way to write `ms` back (1h30m, 250ms). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  const parts: string[] = []
  let rest = ms
  for (const [unit, size] of Object.entries(UNITS).reverse()) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`)
      rest %= size
    }
  }

  return parts.join('')
}

/** `--since`: an ISO 8601 time, or an age such as `90s`, `15m`, `2h`, `7d`. Returns ISO (UTC). */
export function parseSince(text: string, now: Date = new Date()): string {
  const age = durationMs(text)
  if (age !== undefined) return new Date(now.getTime() - age).toISOString()
  const absolute = Date.parse(text)
  if (!Number.isNaN(absolute) && /^\d{4}-\d{2}-\d{2}/.test(text.trim())) return new Date(absolute).toISOString()
  throw new TetherError('usage', 'bad-since', `"${text}" is neither a time nor an age`, {
    hint: 'use an ISO 8601 time (2026-05-01T12:00:00Z) or an age such as 30s, 15m, 2h, 7d',
  })
}
