import type {HeartbeatRequest} from '../protocol/messages.js'
import type {HeartbeatResult} from './outbound.js'
import {requireUnprotected} from './self-protection.js'
import type {DsaCoreFiles} from './store-files.js'
import {ClassicWords, ENGINE_WORDS, heartbeatRequestOf} from './words.js'

/**
 * The heartbeat on demand behind `tether agent heartbeat` and `dsa_control -m`, one
 * implementation for the oclif command and the classic tool's direct path (which runs it without
 * oclif). Asking a person (the password) is the caller's: it is given as a function, called at the
 * point the heartbeat needs it.
 */

// Lazy: the agent database's modules load only when there is an event to record.
const events = () => import('./database.js')

export interface HeartbeatNowOptions {
  password: () => Promise<string | undefined>
  /** Only record the engine words (dsa_control --buildBaseline, --scanForChanges). */
  noContact: boolean
  serviceRetries: number
}

export interface HeartbeatNow {
  /** One `Note:` line per engine word, recorded as an event. */
  notes: string[]
  request?: HeartbeatRequest
  /** Undefined with noContact. */
  heartbeat?: HeartbeatResult
}

/** dsa_control -m: a heartbeat now, through the running agent if there is one, else from this process. */
export async function heartbeatNow(store: DsaCoreFiles, words: ClassicWords, options: HeartbeatNowOptions): Promise<HeartbeatNow> {
  const request = heartbeatRequestOf(words)
  if (!store.exists()) store.ensureDir()
  await requireUnprotected(store, 'dsa_control -m', await options.password())
  for (const word of words.engineWords) await (await events()).recordEventIn(store.dir, 'on-demand-unsupported', {word})
  const notes = words.engineWords.map((word) => `Note: ${ENGINE_WORDS[word.toLowerCase()]}; recorded as an event`)
  if (options.noContact) return {notes, request}
  // Lazy: the control channel (a socket to the running agent, or the agent runtime) loads only for -m.
  const {replyError, runControl} = await import('./control.js')
  const reply = await runControl(store.dir, {op: 'heartbeat', request}, {serviceRetries: options.serviceRetries})
  const failure = replyError(reply)
  if (failure) throw failure
  return {notes, request, heartbeat: reply.ok ? reply.heartbeat : undefined}
}
