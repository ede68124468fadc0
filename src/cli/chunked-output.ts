import {prettyJson} from './pretty-json.js'

/**
 * Output too large to hold as one string (a listing of every computer): lines encoded into
 * chunks of about 256 KiB, each written as it fills. One write per line costs a system call each;
 * one write of everything holds it all in memory. Each line is encoded straight into the chunk:
 * joining lines into a string and then writing it (with its line end added) copies every byte
 * twice more, which for a 190 MB listing is a fifth of its time.
 */
export class ChunkedOutput {
  private chunk: Buffer
  private used = 0

  /** `write` writes the bytes as they are (a fresh buffer each time: it may keep it). */
  constructor(private readonly write: (bytes: Buffer) => void, private readonly chunkBytes = 256 * 1024) {
    this.chunk = Buffer.allocUnsafe(chunkBytes)
  }

  line(text: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8: what fits by that bound is never cut short.
    const bound = 3 * text.length + 1
    if (this.used + bound > this.chunkBytes) {
      this.flush()
      if (bound > this.chunkBytes) {
        this.write(Buffer.from(`${text}\n`))
        return
      }
    }

    this.used += this.chunk.write(text, this.used)
    this.chunk[this.used++] = 0x0a
  }

  flush(): void {
    if (this.used === 0) return
    const bytes = this.chunk.subarray(0, this.used)
    this.chunk = Buffer.allocUnsafe(this.chunkBytes)
    this.used = 0
    this.write(bytes)
  }
}

/**
 * `{"<key>": [...]}` as `JSON.stringify(document, null, 2)` prints it, one element at a time:
 * each element printed by prettyJson where it stands, or given as its text already (`elementJson`).
 */
export class JsonArrayOutput {
  /** The last element, written once it is known whether a comma follows it. */
  private pending?: string
  private readonly head: string

  constructor(private readonly output: ChunkedOutput, private readonly key: string) {
    this.head = `{\n  ${JSON.stringify(key)}: [`
  }

  /** An array element JSON.stringify leaves out (undefined, a function) is null, as there. */
  element(value: unknown): void {
    this.elementJson(prettyJson(value, ELEMENT_DEPTH) ?? 'null')
  }

  /** An element's JSON text as it stands in the document (prettyJson or JsonFields at ELEMENT_DEPTH). */
  elementJson(text: string): void {
    this.push(`${ELEMENT_INDENT}${text}`)
  }

  end(): void {
    this.output.line(this.pending === undefined ? `{\n  ${JSON.stringify(this.key)}: []\n}` : `${this.pending}${ARRAY_END}`)
    this.output.flush()
  }

  private push(line: string): void {
    this.output.line(this.pending === undefined ? this.head : `${this.pending},`)
    this.pending = line
  }
}

const ARRAY_END = '\n  ]\n}'

/** How deep the elements of JsonArrayOutput's array are: inside the document's object, inside its array. */
export const ELEMENT_DEPTH = 2
const ELEMENT_INDENT = '  '.repeat(ELEMENT_DEPTH)
