import {resetLocalAgent} from '../../agent/reset-local.js'
import type {DsaCore} from '../../agent/store.js'
import {withClassicStatus} from '../../compat/status.js'
import type {CommandOutput} from '../command-output.js'
import {confirmOrRefuse, passwordOrAsk} from '../prompt.js'

/**
 * What `tether agent reset` (dsa_control -r) prints and returns (its --json document), for the
 * oclif command and the direct path (src/compat/direct.ts) alike, so both print the same bytes. A
 * module of its own, so each command loads only what it needs (a cold start pays for every module).
 */
export async function agentResetCommand(store: DsaCore, flags: {yes: boolean; unbind: boolean; password?: string}, out: CommandOutput) {
  return withClassicStatus(out, async () => {
    const result = await resetLocalAgent(store, {
      unbind: flags.unbind,
      password: () => passwordOrAsk(flags.password, 'Self-protection password'),
      confirm: (what) => confirmOrRefuse(what, {yes: flags.yes, flagHint: '--yes'}),
    })
    out.log('HTTP Status: 200 - OK')
    out.log(result.removed.length > 0 ? `Agent reset (was ${result.previousState}); removed ${result.removed.join(', ')}` : 'Agent was already reset; nothing to remove')
    return {state: 'unactivated', dsaCore: store.dir, previousState: result.previousState, removed: result.removed}
  })
}
