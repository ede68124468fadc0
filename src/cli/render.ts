import {Chalk} from 'chalk'

/**
 * Human output. Colour only where the stream is a terminal; chalk's detection honours
 * FORCE_COLOR, and NO_COLOR (https://no-color.org) turns it off whatever the terminal.
 */
function chalkFor(stream: NodeJS.WriteStream): InstanceType<typeof Chalk> {
  const env = process.env
  if ('NO_COLOR' in env && env.NO_COLOR !== '' && !env.FORCE_COLOR) return new Chalk({level: 0})
  if (env.FORCE_COLOR !== undefined) return new Chalk()
  return new Chalk({level: stream.isTTY ? 1 : 0})
}

export const paint = {
  get stdout() {
    return chalkFor(process.stdout)
  },
  get stderr() {
    return chalkFor(process.stderr)
  },
}

/**
 * C0 and C1 control characters, DEL, and the Unicode marks that reorder a line (bidirectional
 * overrides and isolates): in a string an agent chose (a hostname, a display name, an event
 * detail, a certificate subject) they could clear the screen, rewrite earlier lines or forge rows.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/**
 * A string from a peer made safe for a terminal: each control character shown escaped (`\u001b`),
 * so nothing reaches the terminal as a control sequence and the operator still sees it was there.
 * For human output only: JSON output keeps the exact value (JSON escapes it).
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A copy of a record with each string value printable (a journal row, a computer, an event). */
export function printableFields<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, typeof value === 'string' ? printable(value) : value])) as T
}

/** Aligned `label: value` lines, the shape of every human summary; values are made printable. */
export function fieldLines(fields: Array<[string, unknown]>, indent = ''): string[] {
  const shown = fields.filter(([, value]) => value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0))
  const width = Math.max(0, ...shown.map(([label]) => label.length))
  return shown.map(([label, value]) => `${indent}${`${label}:`.padEnd(width + 1)} ${printable(Array.isArray(value) ? value.join(', ') : String(value))}`)
}
