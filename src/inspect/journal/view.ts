import fs from 'node:fs'

import type {JournalRow} from '../../channel/journal.js'
import {TetherError} from '../../errors.js'
import {DSA_CORE_ENV, MANAGER_HOME_ENV, resolveDsaCore, resolveManagerHome} from '../../platform/paths.js'
import {type JournalKind, type JournalReader, journalFile} from './access.js'

export {openJournal} from './access.js'

/**
 * Reading the handshake journal for `tether handshake log`: which journal (the manager's
 * registry or the agent's own database), entries since a time, following new ones, and one line
 * per entry for a human.
 */

export interface JournalSource {
  kind: JournalKind
  /** The manager home or the agent's dsa_core. */
  dir: string
  file: string
}

/**
 * --home: the manager's journal; --dsa-core: the agent's. Neither: $TETHER_MANAGER_HOME, then
 * $TETHER_DSA_CORE, then whichever of the default locations holds a journal (manager first).
 */
export function resolveJournalSource(flags: {home?: string; dsaCore?: string}, env: NodeJS.ProcessEnv = process.env): JournalSource {
  if (flags.home && flags.dsaCore) {
    throw new TetherError('usage', 'conflicting-flags', 'give --home (the manager\'s journal) or --dsa-core (the agent\'s), not both', {
      hint: 'run the command once for each side',
    })
  }

  const source = (kind: JournalKind, dir: string): JournalSource => ({kind, dir, file: journalFile(kind, dir)})
  if (flags.home) return source('manager', resolveManagerHome(flags.home, env))
  if (flags.dsaCore) return source('agent', resolveDsaCore(flags.dsaCore, {env}))
  if (env[MANAGER_HOME_ENV]) return source('manager', resolveManagerHome(undefined, env))
  if (env[DSA_CORE_ENV]) return source('agent', resolveDsaCore(undefined, {env}))
  for (const candidate of [source('manager', resolveManagerHome(undefined, env)), source('agent', resolveDsaCore(undefined, {env}))]) {
    if (fs.existsSync(candidate.file)) return candidate
  }

  throw new TetherError('notFound', 'no-journal', 'no handshake journal found: no manager home or agent dsa_core at the default locations', {
    hint: 'give --home DIR (a manager) or --dsa-core DIR (an agent)',
  })
}

/** `--since`: see platform/duration.ts (the one parser). */
export {parseSince} from '../../platform/duration.js'

/** One line per attempt (and the detail indented below it); refused in red, failed in yellow. */
export function formatEntry(row: JournalRow, paint: {red(text: string): string; yellow(text: string): string}): string {
  const peer = row.peerSha256 ? `${row.peerSubject ?? '(no subject)'} [SHA-256 ${row.peerSha256}]` : 'no peer certificate'
  const fields = [
    row.at,
    row.result.padEnd(8),
    `tls-${row.tlsRole}/http-${row.httpRole}`,
    row.context,
    row.peerAddress ?? '-',
    row.reason,
    [row.protocol, row.cipher].filter(Boolean).join(' ') || '-',
    peer,
  ]
  const line = fields.join('  ')
  const colour = row.result === 'refused' ? paint.red : row.result === 'failed' ? paint.yellow : (text: string) => text
  const detail = row.detail ? `\n    ${row.detail}` : ''
  return colour(line + detail)
}

export interface FollowOptions {
  sinceId: number
  since?: string
  intervalMs: number
  signal: AbortSignal
}

/** Poll for new entries until the signal aborts; entries are handed over oldest first. */
export async function followJournal(journal: JournalReader, onRows: (rows: JournalRow[]) => void, options: FollowOptions): Promise<void> {
  let lastId = options.sinceId
  while (!options.signal.aborted) {
    const rows = await journal.read({sinceId: lastId, since: options.since})
    if (rows.length > 0) {
      lastId = rows.at(-1)!.id
      onRows(rows)
    }

    await pause(options.intervalMs, options.signal)
  }
}

/** Wait `ms`, or less if the signal aborts meanwhile. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', wake)
      resolve()
    }

    const timer = setTimeout(wake, ms)
    signal.addEventListener('abort', wake)
  })
}
