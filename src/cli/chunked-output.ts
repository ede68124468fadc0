/**
 * Output too large to hold as one string (a listing of every computer): lines gathered into
 * chunks of about 64 KiB, each written as it fills. One write per line costs a system call each;
 * one write of everything holds it all in memory.
 */
export class ChunkedOutput {
  private lines: string[] = []
  private size = 0

  /** `write` prints its text and a line end (oclif's ux.stdout). */
  constructor(private readonly write: (text: string) => void, private readonly chunkChars = 64 * 1024) {}

  line(text: string): void {
    this.lines.push(text)
    this.size += text.length + 1
    if (this.size >= this.chunkChars) this.flush()
  }

  flush(): void {
    if (this.lines.length === 0) return
    const text = this.lines.join('\n')
    this.lines = []
    this.size = 0
    this.write(text)
  }
}

/**
 * `{"<key>": [...]}` as `JSON.stringify(document, null, 2)` prints it, one element at a time: each
 * element is printed inside a one-element document of the same shape and cut out of it, so its
 * indentation is JSON.stringify's own.
 */
export class JsonArrayOutput {
  /** The last element, written once it is known whether a comma follows it. */
  private pending?: string
  private readonly head: string

  constructor(private readonly output: ChunkedOutput, private readonly key: string) {
    this.head = `{\n  ${JSON.stringify(key)}: [`
  }

  element(value: unknown): void {
    this.output.line(this.pending === undefined ? this.head : `${this.pending},`)
    const alone = JSON.stringify({[this.key]: [value]}, null, 2)
    this.pending = alone.slice(this.head.length + 1, alone.length - ARRAY_END.length)
  }

  end(): void {
    this.output.line(this.pending === undefined ? `{\n  ${JSON.stringify(this.key)}: []\n}` : `${this.pending}${ARRAY_END}`)
    this.output.flush()
  }
}

const ARRAY_END = '\n  ]\n}'
