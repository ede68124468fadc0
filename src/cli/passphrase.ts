import fs from 'node:fs'

import {Flags} from '@oclif/core'

import {TetherError, errnoCode} from '../errors.js'
import {isInteractive} from './prompt.js'

/**
 * The passphrase of a backup: from a file (scripts) or asked for on a terminal, never a flag value
 * (it would sit in the shell history and in every process listing) and never printed.
 */

export const passphraseFileFlag = Flags.string({
  description: 'read the passphrase from this file (its first line; keep the file 0600). Without it, the passphrase is asked for on the terminal',
  helpValue: 'FILE',
})

/** Long enough that a guess costs real work even at scrypt's price per try. */
export const MIN_PASSPHRASE_LENGTH = 8

export interface PassphraseOptions {
  /** A new backup: asked twice on a terminal, and held to the minimum length. */
  creating: boolean
}

function fromFile(file: string): string {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    const code = errnoCode(error)
    throw new TetherError(code === 'ENOENT' ? 'notFound' : 'usage', 'passphrase-file-unreadable', `cannot read the passphrase file ${file} (${code ?? (error as Error).message})`, {
      hint: 'pass --passphrase-file a readable file holding the passphrase on its first line',
    })
  }

  // The first line: `echo secret > file` and editors add a newline that is not part of it.
  const passphrase = text.split(/\r?\n/, 1)[0]
  if (passphrase === '') throw new TetherError('usage', 'passphrase-empty', `the passphrase file ${file} holds no passphrase on its first line`, {hint: 'write the passphrase on the first line of the file'})
  return passphrase
}

async function fromTerminal(options: PassphraseOptions): Promise<string> {
  if (!isInteractive()) {
    throw new TetherError('usage', 'passphrase-required', 'a backup passphrase is needed and there is no terminal to ask on', {
      hint: 'pass --passphrase-file FILE (the passphrase on its first line, the file 0600); a passphrase is never taken on the command line',
    })
  }

  // Lazy: @inquirer/prompts is heavy and only a terminal ever needs it.
  const {password} = await import('@inquirer/prompts')
  const first = await password({message: options.creating ? 'Passphrase for the backup' : 'Passphrase of the backup', validate: (value) => value !== '' || 'a passphrase is required'})
  if (options.creating) {
    const again = await password({message: 'The same passphrase again'})
    if (again !== first) throw new TetherError('usage', 'passphrase-mismatch', 'the two passphrases typed differ', {hint: 'run the command again and type the same passphrase twice; nothing was written'})
  }

  return first
}

/** The passphrase from --passphrase-file, else from the terminal, else a usage error naming the flag. */
export async function readPassphrase(file: string | undefined, options: PassphraseOptions): Promise<string> {
  const passphrase = file === undefined ? await fromTerminal(options) : fromFile(file)
  if (options.creating && [...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new TetherError('usage', 'passphrase-too-short', `the passphrase has ${[...passphrase].length} characters; a backup needs at least ${MIN_PASSPHRASE_LENGTH}`, {
      hint: 'choose a longer passphrase (several words are easy to remember); nothing was written',
    })
  }

  return passphrase
}
