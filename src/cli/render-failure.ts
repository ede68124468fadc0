import type {TetherError} from '../errors.js'
import {paint, printable} from './render.js'

/**
 * The one place a failure is shown to an operator, for `tether`, the classic tools, the not-found
 * hook and handshake inspect alike: `Error: <what>; <what to do>` on stderr, or with --json the
 * error as a JSON document on stdout.
 */

export interface RenderOptions {
  json: boolean
  /** Printed after the error line for a human (a classic tool's usage). */
  usage?: string
  /** Overrides the exit code of the error's class (127 for a command not found). */
  exitCode?: number
  /** The JSON document the error belongs to (handshake inspect prints it inside its report). */
  document?: Record<string, unknown>
}

/** Write the failure; returns the exit code it stands for. */
export function renderFailure(failure: TetherError, options: RenderOptions): number {
  const exitCode = options.exitCode ?? failure.exitCode
  if (options.json) {
    const error = {...failure.toJSON(), exitCode}
    process.stdout.write(`${JSON.stringify(options.document ? {...options.document, error} : {error}, null, 2)}\n`)
  } else {
    // A message may quote a peer (an agent's error reply, a certificate subject): printable.
    process.stderr.write(`${paint.stderr.red('Error:')} ${printable(failure.toLine())}\n${options.usage ? `${options.usage}\n` : ''}`)
    if (process.env.TETHER_DEBUG && failure.stack) process.stderr.write(`${failure.stack}\n`)
  }

  return exitCode
}
