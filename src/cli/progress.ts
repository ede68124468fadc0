import {paint} from './render.js'

/**
 * Step-by-step progress: a spinner on a terminal, one plain line per finished step otherwise.
 * Writes to stderr on a terminal (the spinner's redraws), to stdout otherwise (a log to keep).
 */

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

export class StepProgress {
  private timer?: NodeJS.Timeout
  private readonly tty = Boolean(process.stderr.isTTY)

  constructor(private readonly quiet = false) {}

  start(index: number, title: string): void {
    if (this.quiet || !this.tty) return
    let frame = 0
    const draw = () => process.stderr.write(`\r\u001B[2K${paint.stderr.cyan(FRAMES[frame++ % FRAMES.length])} ${index + 1}. ${title}`)
    draw()
    this.timer = setInterval(draw, 80)
  }

  finish(index: number, ok: boolean, title: string, detail: string, ms: number): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    if (this.quiet) return
    if (this.tty) {
      const mark = ok ? paint.stderr.green('✔') : paint.stderr.red('✘')
      process.stderr.write(`\r\u001B[2K${mark} ${index + 1}. ${title} ${paint.stderr.dim(`(${ms} ms)`)}\n    ${ok ? detail : paint.stderr.red(detail)}\n`)
    } else {
      process.stdout.write(`[${ok ? 'ok' : 'FAILED'}] ${index + 1}. ${title} (${ms} ms)\n    ${detail}\n`)
    }
  }
}
