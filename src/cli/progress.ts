import {paint} from './render.js'

/**
 * Progress for a person at a terminal: one status line on stderr, redrawn in place, never mixed
 * into stdout (which a script may be reading). Off a terminal, or quiet (--json), it draws nothing.
 * Both the demo's steps and bulk activation's counter are built on it.
 */

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

export class Progress {
  readonly drawing: boolean
  private timer?: NodeJS.Timeout

  constructor(quiet = false) {
    this.drawing = !quiet && Boolean(process.stderr.isTTY)
  }

  /** Replace the status line. */
  status(text: string): void {
    if (this.drawing) process.stderr.write(`\r\u001B[2K${text}`)
  }

  /** A status line with a spinner in front, until the next status or line. */
  spin(text: string): void {
    this.stopSpinning()
    let frame = 0
    const draw = () => this.status(`${paint.stderr.cyan(FRAMES[frame++ % FRAMES.length])} ${text}`)
    draw()
    if (this.drawing) this.timer = setInterval(draw, 80)
  }

  /** A line that stays, in place of the status line. */
  line(text: string): void {
    this.stopSpinning()
    if (this.drawing) process.stderr.write(`\r\u001B[2K${text}\n`)
  }

  private stopSpinning(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }
}

/**
 * Step-by-step progress: a spinner per step on a terminal; otherwise one plain line per finished
 * step on stdout (a log to keep), through `log`.
 */
export class StepProgress {
  private readonly progress: Progress

  constructor(private readonly quiet: boolean, private readonly log: (line: string) => void) {
    this.progress = new Progress(quiet)
  }

  start(index: number, title: string): void {
    this.progress.spin(`${index + 1}. ${title}`)
  }

  finish(index: number, ok: boolean, title: string, detail: string, ms: number): void {
    if (this.progress.drawing) {
      const mark = ok ? paint.stderr.green('✔') : paint.stderr.red('✘')
      this.progress.line(`${mark} ${index + 1}. ${title} ${paint.stderr.dim(`(${ms} ms)`)}\n    ${ok ? detail : paint.stderr.red(detail)}`)
    } else if (!this.quiet) {
      this.log(`[${ok ? 'ok' : 'FAILED'}] ${index + 1}. ${title} (${ms} ms)\n    ${detail}`)
    }
  }
}

/** "Activating 12/40 · 11 ok · 1 failed", redrawn as results come in, and the failures listed at the end. */
export class CountProgress {
  private readonly progress: Progress
  private done = 0
  private readonly failures: string[] = []

  constructor(private readonly verb: string, private readonly total: number, quiet: boolean) {
    this.progress = new Progress(quiet)
    this.draw()
  }

  get drawing(): boolean {
    return this.progress.drawing
  }

  record(ok: boolean, failure?: string): void {
    this.done++
    if (!ok) this.failures.push(failure ?? 'failed')
    this.draw()
  }

  end(): void {
    if (!this.progress.drawing) return
    this.progress.line(this.text())
    for (const failure of this.failures) this.progress.line(`  ${paint.stderr.red('✘')} ${failure}`)
  }

  private text(): string {
    const failed = this.failures.length
    return `${this.verb} ${this.done}/${this.total} · ${paint.stderr.green(`${this.done - failed} ok`)} · ${failed ? paint.stderr.red(`${failed} failed`) : '0 failed'}`
  }

  private draw(): void {
    this.progress.status(this.text())
  }
}
