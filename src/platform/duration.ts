import {TetherError} from '../errors.js'

/** Durations as operators write them: a number and a unit, or several (`90s`, `1h30m`, `7d`). */

const UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}
const PART = /(\d+)(ms|s|m|h|d)/gy

/** Milliseconds in `text`; a usage error naming `what` when it is not a duration. */
export function parseDuration(text: string, what: string): number {
  const trimmed = text.trim()
  let total = 0
  let end = 0
  PART.lastIndex = 0
  for (let match = PART.exec(trimmed); match; match = PART.exec(trimmed)) {
    total += Number(match[1]) * UNITS[match[2]]
    end = PART.lastIndex
  }

  if (trimmed === '' || end !== trimmed.length) {
    throw new TetherError('usage', 'bad-duration', `${what} "${text}" is not a duration`, {hint: 'write a number and a unit (ms, s, m, h, d), e.g. 30s, 15m, 1h30m, 7d'})
  }

  return total
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
