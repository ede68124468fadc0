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
 * `{"<key>": [...]}` as `JSON.stringify(document, null, 2)` prints it, one element at a time.
 * (Pretty JSON has no line break inside a string, so each element's lines are indented as a whole.)
 */
export class JsonArrayOutput {
  /** The last element, written once it is known whether a comma follows it. */
  private pending?: string

  constructor(private readonly output: ChunkedOutput, private readonly key: string) {}

  element(value: unknown): void {
    this.output.line(this.pending === undefined ? `{\n  ${JSON.stringify(this.key)}: [` : `${this.pending},`)
    this.pending = `    ${JSON.stringify(value, null, 2).replaceAll('\n', '\n    ')}`
  }

  end(): void {
    this.output.line(this.pending === undefined ? `{\n  ${JSON.stringify(this.key)}: []\n}` : `${this.pending}\n  ]\n}`)
    this.output.flush()
  }
}
