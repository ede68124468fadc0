import fs from 'node:fs'
import path from 'node:path'

import {TetherError} from '../errors.js'
import type {HeartbeatRequest} from '../protocol/messages.js'
import type {HeartbeatResult} from './outbound.js'
import {requireUnprotected} from './self-protection.js'
import {DsaCore, ResetResult, resetAgent, stateIfReadable} from './store.js'
import {ClassicWords, ENGINE_WORDS, heartbeatRequestOf} from './words.js'

/**
 * The local agent actions behind `tether agent reset|heartbeat` and `dsa_control -r|-m`,
 * one implementation for the oclif commands and the classic tools' direct path (which runs them
 * without oclif). Asking a person (password, confirmation) is the caller's: it is given as
 * functions, called at the point the action needs them.
 */

// Lazy: the agent database's modules load only when there is an event to record.
const events = () => import('./database.js')

export interface ResetOptions {
  unbind: boolean
  /** The self-protection password, asked for when `*` was given. */
  password: () => Promise<string | undefined>
  /** Refuses (throws) unless confirmed; called once the reset is known to be allowed. */
  confirm: (what: string) => Promise<void>
}

/** dsa_control -r: back to unactivated, after the self-protection and binding checks. */
export async function resetLocalAgent(store: DsaCore, options: ResetOptions): Promise<ResetResult> {
  if (!store.exists() && !fs.existsSync(path.dirname(store.dir))) {
    throw new TetherError('notFound', 'dsa-core-missing', `there is no agent at ${store.dir} (${path.dirname(store.dir)} does not exist)`, {
      hint: 'point --dsa-core / $TETHER_DSA_CORE at the agent\'s dsa_core directory',
    })
  }

  await requireUnprotected(store, 'dsa_control -r', await options.password())
  // Refused before asking when already bound; checked again under the lock.
  if (!options.unbind && stateIfReadable(store) === 'pre-activated') resetAgent(store, {unbind: false})
  await options.confirm(`Reset the agent in ${store.dir}${options.unbind ? ' and clear its binding' : ''} (it must be activated again)`)
  const result = resetAgent(store, {unbind: options.unbind})
  if (result.removed.length > 0) await (await events()).recordEventIn(store.dir, 'reset', {previousState: result.previousState, removed: result.removed})
  return result
}

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
export async function heartbeatNow(store: DsaCore, words: ClassicWords, options: HeartbeatNowOptions): Promise<HeartbeatNow> {
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
