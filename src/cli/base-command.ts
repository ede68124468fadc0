import {Command, Errors} from '@oclif/core'

import {TetherError, isTetherError} from '../errors.js'
import {paint} from './render.js'

/**
 * Every tether command: `--json` prints one document (the value `run` returns, or `{error}` on
 * failure), and every failure exits with the code of its class, the same as dsm_c and dsa_control.
 */
export abstract class TetherCommand extends Command {
  static enableJsonFlag = true

  protected async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    const failure = toTetherError(error, this.id)
    process.exitCode = failure.exitCode
    if (this.jsonEnabled()) {
      this.logJson({error: failure.toJSON()})
      return undefined
    }

    process.stderr.write(`${paint.stderr.red('Error:')} ${failure.toLine()}\n`)
    if (process.env.TETHER_DEBUG && error.stack) process.stderr.write(`${error.stack}\n`)
    return this.exit(failure.exitCode)
  }
}

/** Parse errors from oclif become usage errors; anything unexpected is internal. */
export function toTetherError(error: Error & {oclif?: {exit?: number}}, commandId?: string): TetherError {
  if (isTetherError(error)) return error
  if (error instanceof Errors.CLIError && (error.oclif?.exit ?? 2) === 2) {
    // oclif spreads one error over lines ("Missing 1 required arg:" / "computer  id, ..."): keep it one line.
    const message = error.message.split('\n').map((l) => l.trim()).filter((l) => l && !/^See more help with/.test(l) && l !== 'The following error occurred:').join(' ').replace(/: (?=\S)/, ': ')
    return new TetherError('usage', 'usage', message, {hint: `see \`tether ${commandId?.replaceAll(':', ' ') ?? ''} --help\``})
  }

  return new TetherError('internal', 'internal', error.message || String(error), {
    hint: 'this is a bug in tether; rerun with TETHER_DEBUG=1 and report the stack trace',
    cause: error,
  })
}
