/**
 * One error type for the whole toolkit. Every failure an operator can see carries a class (which
 * fixes the exit code, the same in `tether`, `dsm_c` and `dsa_control`), a stable machine-readable
 * code, a one-line message naming what was wrong, and a hint saying what to do.
 */

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  notFound: 3,
  refused: 4,
  trust: 5,
  unreachable: 6,
} as const

export type FailureClass = Exclude<keyof typeof ExitCode, 'ok'>

export class TetherError extends Error {
  readonly failure: FailureClass
  readonly code: string
  readonly hint?: string
  readonly details?: Record<string, unknown>

  constructor(
    failure: FailureClass,
    code: string,
    message: string,
    options: {hint?: string; details?: Record<string, unknown>; cause?: unknown} = {},
  ) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'TetherError'
    this.failure = failure
    this.code = code
    this.hint = options.hint
    this.details = options.details
  }

  get exitCode(): number {
    return ExitCode[this.failure]
  }

  /** The single line printed for a human: what went wrong, then what to do. */
  toLine(): string {
    return this.hint ? `${this.message}; ${this.hint}` : this.message
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      class: this.failure,
      exitCode: this.exitCode,
      message: this.message,
      ...(this.hint ? {hint: this.hint} : {}),
      ...(this.details ? {details: this.details} : {}),
    }
  }
}

export function isTetherError(error: unknown): error is TetherError {
  return error instanceof TetherError
}

/** Any failure as a TetherError: one already is, anything else is a bug in tether and says so. */
export function asTetherError(error: unknown): TetherError {
  if (isTetherError(error)) return error
  return new TetherError('internal', 'internal', (error as Error)?.message || String(error), {
    hint: 'this is a bug in tether; rerun with TETHER_DEBUG=1 and report the stack trace',
    cause: error,
  })
}

/** Node's errno errors (ENOENT, EACCES, ...) carry a code; narrow to read it safely. */
export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as {code: unknown}).code)
    : undefined
}
