/**
 * Human output. Colour only where the stream is a terminal; FORCE_COLOR forces it (0 or false: off),
 * and NO_COLOR (https://no-color.org) turns it off whatever the terminal unless FORCE_COLOR is set
 * (non-empty).
 * The few styles tether uses, written as chalk writes them (it cost a fifth of a classic tool's
 * cold start): a code the text already contains is reopened after, each line is wrapped alone.
 */

const STYLES = {red: [31, 39], yellow: [33, 39], green: [32, 39], cyan: [36, 39], dim: [2, 22]} as const

export type Style = (text: string) => string
export type Paint = Record<keyof typeof STYLES, Style>

function colourOn(stream: NodeJS.WriteStream): boolean {
  const env = process.env
  if ('NO_COLOR' in env && env.NO_COLOR !== '' && !env.FORCE_COLOR) return false
  // As chalk reads it: empty or true forces colour; false or a number that is 0 turns it off.
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== 'false' && Number.parseInt(env.FORCE_COLOR, 10) !== 0
  return Boolean(stream.isTTY)
}

function styled(open: string, close: string): Style {
  return (text) => {
    if (!text) return text
    const reopened = text.includes('\u001B') ? text.replaceAll(close, `${close}${open}`) : text
    return `${open}${reopened.replaceAll(/\r?\n/g, (lf) => `${close}${lf}${open}`)}${close}`
  }
}

const PLAIN = Object.fromEntries(Object.keys(STYLES).map((name) => [name, (text: string) => text])) as Paint
const COLOUR = Object.fromEntries(Object.entries(STYLES).map(([name, [open, close]]) => [name, styled(`\u001B[${open}m`, `\u001B[${close}m`)])) as Paint

function paintFor(stream: NodeJS.WriteStream): Paint {
  return colourOn(stream) ? COLOUR : PLAIN
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
