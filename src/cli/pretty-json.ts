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

/** Keys' text (`,`, line end, indentation, quoted name, `: `) by depth; bounded, since the keys of nested data (an agent's host information) are not tether's. */
const keyTexts: Array<Map<string, string>> = []
const MAX_KEYS_PER_DEPTH = 1024

function keyText(key: string, depth: number): string {
  const cache = (keyTexts[depth] ??= new Map())
  let text = cache.get(key)
  if (text === undefined) {
    text = `,${lineIndent(depth)}${quote(key)}: `
    if (cache.size < MAX_KEYS_PER_DEPTH) cache.set(key, text)
  }

  return text
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
    const json = prettyJson(value, this.depth + 1)
    if (json === undefined) return
    const keyPart = keyText(key, this.depth + 1)
    // The first key's text without its comma: the object's brace instead (slicing the whole text at the end would flatten it).
    this.text = this.text === '' ? `{${keyPart.slice(1)}${json}` : `${this.text}${keyPart}${json}`
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
