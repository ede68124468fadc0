import fs from 'node:fs'
import path from 'node:path'

import {TetherError} from '../errors.js'
import {requireUnprotected} from './self-protection.js'
import {DsaCore, ResetResult, resetAgent, stateIfReadable} from './store.js'

/**
 * The local reset behind `tether agent reset` and `dsa_control -r`, one implementation for the
 * oclif command and the classic tool's direct path (which runs it without oclif). Asking a person
 * (password, confirmation) is the caller's: it is given as functions, called at the point the
 * reset needs them. Apart from the heartbeat (heartbeat-now.ts), whose word parsing a reset does
 * not load (a cold start pays for every module).
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
