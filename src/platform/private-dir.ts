import fs from 'node:fs'
import os from 'node:os'

import {TetherError, errnoCode} from '../errors.js'

/**
 * A directory holding keys and trust anchors (dsa_core, the manager home) must be writable only by
 * its owner, and owned by the user running tether (or root): otherwise another local user can swap
 * the CA certificate or the keys under us. tether creates these directories 0700 itself.
 */

export type DirectoryProblem = {kind: 'writable'; mode: number} | {kind: 'owner'; uid: number; euid: number}

/** What is wrong with a directory's mode and owner for a process running as `euid`, if anything. */
export function directoryProblem(stat: {mode: number; uid: number}, euid: number): DirectoryProblem | undefined {
  if ((stat.mode & 0o022) !== 0) return {kind: 'writable', mode: stat.mode & 0o7777}
  // Root's directories are trusted by everyone: root can change anything anyway.
  if (stat.uid !== euid && stat.uid !== 0) return {kind: 'owner', uid: stat.uid, euid}
  return undefined
}

const shellQuote = (text: string) => (/^[\w@%+=:,./-]+$/u.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`)

/** Refuse a directory another user could write to; a missing one is fine (tether creates it 0700). */
export function checkPrivateDirectory(dir: string, what: string): void {
  if (process.platform === 'win32' || typeof process.geteuid !== 'function') return
  let stat: fs.Stats
  try {
    stat = fs.statSync(dir)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return
    throw error
  }

  const problem = directoryProblem(stat, process.geteuid())
  if (!problem) return
  if (problem.kind === 'writable') {
    const who = [problem.mode & 0o020 ? 'its group' : '', problem.mode & 0o002 ? 'every user' : ''].filter(Boolean).join(' and ')
    throw new TetherError('trust', 'directory-not-private', `${what} ${dir} is writable by ${who} (mode ${problem.mode.toString(8).padStart(4, '0')}): another local user could replace its keys and certificates`, {
      hint: `make it private: chmod 700 ${shellQuote(dir)} (and check that nothing in it was replaced)`,
    })
  }

  const user = os.userInfo().username
  throw new TetherError('trust', 'directory-not-owned', `${what} ${dir} is owned by uid ${problem.uid}, not by ${user} (uid ${problem.euid}) who runs tether: that user could replace its keys and certificates`, {
    hint: `give it to the user that runs tether: chown -R ${shellQuote(user)} ${shellQuote(dir)} (or run tether as its owner)`,
  })
}
