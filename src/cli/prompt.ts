import {TetherError} from '../errors.js'

/** Prompts appear only when a person is at a terminal; a script is never asked and never hangs. */

export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY)
}

/**
 * Confirm a destructive step. `--yes` skips it; with no terminal and no `--yes` the step is
 * refused with an error telling the script what to pass.
 */
export async function confirmOrRefuse(message: string, options: {yes: boolean; flagHint: string}): Promise<void> {
  if (options.yes) return
  if (!isInteractive()) {
    throw new TetherError('usage', 'confirmation-required', `${message} needs confirmation and there is no terminal to ask on`, {
      hint: `pass ${options.flagHint} to confirm from a script`,
    })
  }

  // Lazy: @inquirer/prompts is heavy and only a terminal ever needs it.
  const {confirm} = await import('@inquirer/prompts')
  const accepted = await confirm({message: `${message}?`, default: false})
  if (!accepted) {
    throw new TetherError('refused', 'declined', `${message}: declined at the prompt`, {hint: 'nothing was changed'})
  }
}

/**
 * A required value: as given, else asked for on a terminal, else a usage error naming what to
 * pass (a script is never left waiting).
 */
export async function valueOrAsk(value: string | undefined, options: {what: string; message: string; hint: string}): Promise<string> {
  if (value !== undefined && value !== '') return value
  if (!isInteractive()) {
    throw new TetherError('usage', 'missing-value', `${options.what} is required`, {hint: options.hint})
  }

  // Lazy: @inquirer/prompts is heavy and only a terminal ever needs it.
  const {input} = await import('@inquirer/prompts')
  return input({message: options.message, required: true, validate: (text) => text.trim() !== '' || `${options.what} is required`})
}

/**
 * A password given on the command line, or `*`: ask for it on a terminal without echo (classic
 * `dsa_control -p *`). Without a terminal, `*` is a usage error.
 */
export async function passwordOrAsk(value: string | undefined, what: string): Promise<string | undefined> {
  if (value !== '*') return value
  if (!isInteractive()) throw new TetherError('usage', 'missing-value', `${what} was asked for with * and there is no terminal to ask on`, {hint: 'give it on the command line, -p PASSWORD'})
  // Lazy: @inquirer/prompts is heavy and only a terminal ever needs it.
  const {password} = await import('@inquirer/prompts')
  return password({message: what, mask: false})
}
