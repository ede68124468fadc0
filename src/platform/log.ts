import fs from 'node:fs'

/**
 * Daemon logs: one line per event on stderr, stable and greppable. logfmt by default
 * (`ts=... level=warn event=handshake-refused peer=127.0.0.1:5555 reason=unknown-ca`), or one
 * JSON object per line. Callers pass an event name and structured fields, never a pre-formatted
 * message, and the logger itself redacts every field whose name says it is a secret (token,
 * password, passphrase, secret, key) and every value holding PEM private key material.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export const LOG_FORMATS = ['logfmt', 'json'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogFormat = (typeof LOG_FORMATS)[number]
export type LogValue = string | number | boolean | null | undefined
export type LogFields = Record<string, LogValue>

export interface Logger {
  debug(event: string, fields?: LogFields): void
  info(event: string, fields?: LogFields): void
  warn(event: string, fields?: LogFields): void
  error(event: string, fields?: LogFields): void
}

export const REDACTED = '[redacted]'
const SECRET_WORDS = new Set(['token', 'tokens', 'password', 'passwd', 'passphrase', 'secret', 'secrets', 'key', 'keys'])
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/
const RESERVED = new Set(['ts', 'level', 'event'])

/** Whether a field name says its value is a secret: any of its words (camelCase, snake, kebab). */
export function isSecretName(name: string): boolean {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/)
  return words.some((word) => SECRET_WORDS.has(word))
}

function safeValue(name: string, value: LogValue): LogValue {
  if (isSecretName(name)) return REDACTED
  return typeof value === 'string' && PRIVATE_KEY_PEM.test(value) ? REDACTED : value
}

/** A logfmt key: letters, digits and `_.-` only, so `key=` always splits cleanly. */
function logfmtKey(name: string): string {
  return name.replace(/[^\w.-]/g, '_') || '_'
}

/** Bare when unambiguous, else a double-quoted string with `\`, `"` and every control character escaped. */
export function logfmtValue(value: LogValue): string {
  const text = value === null ? 'null' : String(value)
  if (text !== '' && !/[\s"=\\\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) return text
  return `"${text.replace(/[\\"\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`
}

const ESCAPES: Record<string, string> = {'\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t'}

/** One line (with its newline) for an event, fields redacted; undefined fields are left out. */
export function formatLine(format: LogFormat, at: Date, level: LogLevel, event: string, fields: LogFields = {}): string {
  const entries: Array<[string, LogValue]> = [['ts', at.toISOString()], ['level', level], ['event', event]]
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue
    entries.push([RESERVED.has(name) ? `${name}_` : name, safeValue(name, value)])
  }

  if (format === 'json') return `${JSON.stringify(Object.fromEntries(entries))}\n`
  return `${entries.map(([name, value]) => `${logfmtKey(name)}=${logfmtValue(value)}`).join(' ')}\n`
}

export interface LoggerOptions {
  format?: LogFormat
  /** Events below this level are dropped (default info). */
  level?: LogLevel
  /** Where lines go (default stderr). */
  write?: (line: string) => void
  /** Further sinks each line also goes to (a size-capped file: fileSink). */
  also?: Array<(line: string) => void>
  now?: () => Date
}

/**
 * A sink appending each line to a file, owner-only, capped in size: past `maxBytes` the file is
 * moved to FILE.1 (replacing the previous one) and a new one started, so at most twice the cap is
 * kept. A write that fails (disk full) is dropped: logging never takes the daemon down.
 */
export function fileSink(file: string, maxBytes: number): (line: string) => void {
  let size = -1
  return (line: string) => {
    try {
      if (size < 0) size = fs.existsSync(file) ? fs.statSync(file).size : 0
      if (size + Buffer.byteLength(line) > maxBytes && size > 0) {
        fs.renameSync(file, `${file}.1`)
        size = 0
      }

      fs.appendFileSync(file, line, {mode: 0o600})
      size += Buffer.byteLength(line)
    } catch {
      size = -1
    }
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'logfmt'
  const threshold = LOG_LEVELS.indexOf(options.level ?? 'info')
  const primary = options.write ?? ((line: string) => void process.stderr.write(line))
  const sinks = [primary, ...(options.also ?? [])]
  const write = (line: string) => {
    for (const sink of sinks) sink(line)
  }

  const now = options.now ?? (() => new Date())
  const at = (level: LogLevel) => (event: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) >= threshold) write(formatLine(format, now(), level, event, fields))
  }

  return {debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error')}
}

/** A logger whose every line also carries `fields` (first, after the event): `worker=2`. */
export function withFields(log: Logger, fields: LogFields): Logger {
  const at = (level: LogLevel) => (event: string, more?: LogFields) => log[level](event, {...fields, ...more})
  return {debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error')}
}

/** For in-process users (tests, the demo, benchmarks): logs nothing. */
export const silentLogger: Logger = {debug() {}, info() {}, warn() {}, error() {}}

/** The fields an error gives a log line: its stable code and its message. */
export function errorFields(error: unknown): {reason: string; detail: string} {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as {code: unknown}).code) : 'internal'
  return {reason: code, detail: error instanceof Error ? error.message : String(error)}
}
