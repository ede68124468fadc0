import {TetherError} from '../errors.js'

/** Durations as operators write them: `90s`, `15m`, `2h`, `7d`, `397d` (one number, one unit). */

const UNITS: Record<string, number> = {s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}

export function parseDuration(text: string, what: string): number {
  const match = /^(\d+)\s*([smhd])$/i.exec(text.trim())
  const ms = match ? Number(match[1]) * UNITS[match[2].toLowerCase()] : Number.NaN
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new TetherError('usage', 'bad-duration', `${what} "${text}" is not a duration`, {hint: 'write a whole number and a unit: 90s, 15m, 2h, 7d'})
  }

  return ms
}

/** A duration as parseDuration reads it, in the largest unit that divides it. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's']) if (ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`
  return `${ms}ms`
}
