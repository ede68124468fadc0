import type {ChalkInstance} from 'chalk'

/**
 * Human output. Colour only where the stream is a terminal; chalk's detection honours
 * FORCE_COLOR, and NO_COLOR (https://no-color.org) turns it off whatever the terminal.
 */

export type Style = (text: string) => string
export type Paint = Record<'red' | 'yellow' | 'green' | 'cyan' | 'dim', Style>

function noColour(): boolean {
  const env = process.env
  return 'NO_COLOR' in env && env.NO_COLOR !== '' && !env.FORCE_COLOR
}

/** Whether chalk may colour this stream (FORCE_COLOR set: chalk's own reading of it decides). */
function mayColour(stream: NodeJS.WriteStream): boolean {
  return !noColour() && (process.env.FORCE_COLOR !== undefined || Boolean(stream.isTTY))
}

// Lazy: chalk is a fifth of a classic tool's cold start, and output nobody colours (a script's, with
// no terminal and no FORCE_COLOR, as the environment stands at start-up) never loads it.
const chalk = mayColour(process.stdout) || mayColour(process.stderr) ? await import('chalk') : undefined

const identity: Style = (text) => text
const PLAIN: Paint = {red: identity, yellow: identity, green: identity, cyan: identity, dim: identity}
let forced: ChalkInstance | undefined
let basic: ChalkInstance | undefined

function paintFor(stream: NodeJS.WriteStream): Paint {
  if (!chalk || !mayColour(stream)) return PLAIN
  if (process.env.FORCE_COLOR !== undefined) return (forced ??= new chalk.Chalk())
  return (basic ??= new chalk.Chalk({level: 1}))
}

export const paint = {
  get stdout(): Paint {
    return paintFor(process.stdout)
  },
  get stderr(): Paint {
    return paintFor(process.stderr)
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
