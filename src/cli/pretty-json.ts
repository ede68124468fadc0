/**
 * `JSON.stringify(value, null, 2)`, byte for byte, for the plain data of a large listing, written
 * in JavaScript because it is faster there: V8's JSON.stringify costs about 0.17 µs for each short
 * string and 0.06 µs for each number it is called on, and a nested object printed natively must
 * then be re-indented to its place. Here the keys' text (line end, indentation, quoted name) is
 * made once and a string that needs no escape is quoted as it is.
 */

const lineIndents: string[] = []

/** A line end and the indentation of `depth` levels, as JSON.stringify(_, null, 2) writes it. */
function lineIndent(depth: number): string {
  return (lineIndents[depth] ??= `\n${'  '.repeat(depth)}`)
}

/** What JSON.stringify escapes: `"`, `\`, control characters; any surrogate (a lone one is escaped) goes to JSON.stringify too. */
const NEEDS_ESCAPE = /["\\\u0000-\u001F\uD800-\uDFFF]/

/** Deeper than this (a cycle, or data no listing has), JSON.stringify itself prints the rest, and throws what it throws. */
const MAX_DEPTH = 32

/**
 * The text before a field's value (`,` or the object's `{`, line end, indentation, quoted name,
 * `: `), and with the values that are constants (null, true, false) or start with one (a string's
 * opening quote) already after it: each piece less is a node less in the rope to flatten.
 */
interface KeyTexts {
  key: string
  quote: string
  null: string
  true: string
  false: string
}

/** By depth, then first field or not; bounded, since the keys of nested data (an agent's host information) are not tether's. */
const keyTextCaches: Array<[Map<string, KeyTexts>, Map<string, KeyTexts>]> = []
const MAX_KEYS_PER_DEPTH = 1024

function keyTexts(key: string, depth: number, first: boolean): KeyTexts {
  const cache = (keyTextCaches[depth] ??= [new Map(), new Map()])[first ? 0 : 1]
  let texts = cache.get(key)
  if (texts === undefined) {
    const text = `${first ? '{' : ','}${lineIndent(depth)}${quote(key)}: `
    texts = {key: text, quote: `${text}"`, null: `${text}null`, true: `${text}true`, false: `${text}false`}
    if (cache.size < MAX_KEYS_PER_DEPTH) cache.set(key, texts)
  }

  return texts
}

function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`
}

/**
 * A value's text where it stands `depth` levels deep in `JSON.stringify(document, null, 2)`;
 * undefined where JSON.stringify leaves a key out (undefined, a function, a symbol). Arrays and
 * objects of Object.prototype (or none) without toJSON are printed here; anything else (a Date, a
 * class instance) by JSON.stringify and indented to its place, its line ends being JSON.stringify's
 * own (a line end inside a string is always escaped).
 */
export function prettyJson(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return quote(value)
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null'
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (depth < MAX_DEPTH && typeof (value as {toJSON?: unknown}).toJSON !== 'function') {
        const prototype = Object.getPrototypeOf(value)
        if (prototype === Array.prototype) return arrayJson(value as unknown[], depth)
        if (prototype === Object.prototype || prototype === null) return objectJson(value as Record<string, unknown>, depth)
      }

      const text = JSON.stringify(value, null, 2) as string | undefined
      return depth === 0 || text === undefined ? text : text.replaceAll('\n', lineIndent(depth))
    }

    default:
      // undefined, a function or a symbol: left out; a bigint: JSON.stringify's TypeError.
      return JSON.stringify(value)
  }
}

function arrayJson(values: unknown[], depth: number): string {
  if (values.length === 0) return '[]'
  const inner = lineIndent(depth + 1)
  let text = '['
  for (let i = 0; i < values.length; i++) text += `${i === 0 ? '' : ','}${inner}${prettyJson(values[i], depth + 1) ?? 'null'}`
  return `${text}${lineIndent(depth)}]`
}

function objectJson(object: Record<string, unknown>, depth: number): string {
  const fields = new JsonFields(depth)
  for (const key in object) if (Object.hasOwn(object, key)) fields.field(key, object[key])
  return fields.end()
}

/**
 * The JSON text of an object that is never made, written field by field in key order: what
 * `JSON.stringify(object, null, 2)` prints for it `depth` levels deep in a document. The text is
 * concatenated (a rope, flattened once when the chunk it ends up in is written): about a quarter
 * cheaper than gathering the pieces in an array and joining them.
 */
export class JsonFields {
  private text = ''

  constructor(private readonly depth: number) {}

  field(key: string, value: unknown): void {
    const texts = keyTexts(key, this.depth + 1, this.text === '')
    switch (typeof value) {
      case 'string':
        this.text = NEEDS_ESCAPE.test(value) ? `${this.text}${texts.key}${JSON.stringify(value)}` : `${this.text}${texts.quote}${value}"`
        return
      case 'boolean':
        this.text += value ? texts.true : texts.false
        return
      case 'object':
        if (value === null) {
          this.text += texts.null
          return
        }
    }

    const json = prettyJson(value, this.depth + 1)
    if (json !== undefined) this.text = `${this.text}${texts.key}${json}`
  }

  /**
   * The fields of `{...parts[0], ...parts[1], ...}`, in its key order: a key keeps the place where
   * it first appears and takes the value of the last part that has it. (Integer-like keys, which
   * an object puts first, are not expected: no part of a listing has any.)
   */
  spread(parts: readonly object[]): void {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as Record<string, unknown>
      for (const key in part) {
        if (!Object.hasOwn(part, key) || placedBefore(parts, i, key)) continue
        let value = part[key]
        for (let j = parts.length - 1; j > i; j--) {
          if (Object.hasOwn(parts[j], key)) {
            value = (parts[j] as Record<string, unknown>)[key]
            break
          }
        }

        this.field(key, value)
      }
    }
  }

  /** The object's text; the writer is empty again for the next one. */
  end(): string {
    const {text} = this
    if (text === '') return '{}'
    this.text = ''
    return `${text}${lineIndent(this.depth)}}`
  }
}

function placedBefore(parts: readonly object[], i: number, key: string): boolean {
  for (let j = 0; j < i; j++) if (Object.hasOwn(parts[j], key)) return true
  return false
}
