import {Errors} from '@oclif/core'

import {TetherError, asTetherError, isTetherError} from '../errors.js'

// The renderer has its own module: the classic tools' direct path shows failures without oclif.
export {type RenderOptions, renderFailure} from './render-failure.js'

/** Parse errors from oclif become usage errors; anything unexpected is internal. */
export function toTetherError(error: Error & {oclif?: {exit?: number}}, commandId?: string): TetherError {
  if (isTetherError(error)) return error
  if (error instanceof Errors.CLIError && (error.oclif?.exit ?? 2) === 2) {
    // oclif spreads one error over lines ("Missing 1 required arg:" / "computer  id, ..."): keep it one line.
    const message = error.message.split('\n').map((l) => l.trim()).filter((l) => l && !/^See more help with/.test(l) && l !== 'The following error occurred:').join(' ').replace(/: (?=\S)/, ': ')
    return new TetherError('usage', 'usage', message, {hint: `see \`tether ${commandId?.replaceAll(':', ' ') ?? ''} --help\``})
  }

  return asTetherError(error)
}
