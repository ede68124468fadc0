import fs from 'node:fs'
import path from 'node:path'

import {Flags} from '@oclif/core'

import {recordEventIn} from '../../agent/database.js'
import {requireUnprotected} from '../../agent/self-protection.js'
import {resetAgent, stateIfReadable} from '../../agent/store.js'
import {passwordFlag} from '../../cli/agent-flags.js'
import {AgentCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'
import {confirmOrRefuse, passwordOrAsk} from '../../cli/prompt.js'
import {withClassicStatus} from '../../compat/status.js'
import {TetherError} from '../../errors.js'

export default class AgentReset extends AgentCommand {
  static summary = 'Reset the agent to unactivated: clear credentials and configuration (keeps proxy settings)'
  static description = 'Removes ds_agent.key, ds_agent.crt, ds_agent_dsm.crt, ds_agent_dsm_ca.crt and ds_agent.config as one atomic change; a running agent switches back to the bootstrap context without a restart. The proxy settings (dsa_control -x, -u) stay. Idempotent. A pre-activated (bound) agent is refused, naming the bound manager, by design: `--unbind` is the explicit way to clear a binding. Needs the self-protection password (--password) when the policy sets one. A dsa_core whose agent directory does not exist is an error. Asks for confirmation on a terminal unless --yes; never asks a script (without a terminal, --yes is required). `dsa_control -r` is the same and never prompts.'
  static examples = ['<%= config.bin %> agent reset --yes', 'dsa_control -r', '<%= config.bin %> agent reset --unbind --yes']
  static flags = {
    yes: yesFlag,
    unbind: Flags.boolean({description: 'also clear a binding (ds_agent_dsm.crt of a pre-activated agent)', default: false}),
    password: passwordFlag,
  }

  async run() {
    const {flags} = await this.parse(AgentReset)
    return withClassicStatus({log: (line) => this.log(line), json: this.jsonEnabled()}, () => this.reset(flags))
  }

  private async reset(flags: {yes: boolean; unbind: boolean; password?: string}) {
    const store = this.dsaCore
    if (!store.exists() && !fs.existsSync(path.dirname(store.dir))) {
      throw new TetherError('notFound', 'dsa-core-missing', `there is no agent at ${store.dir} (${path.dirname(store.dir)} does not exist)`, {
        hint: 'point --dsa-core / $TETHER_DSA_CORE at the agent\'s dsa_core directory',
      })
    }

    await requireUnprotected(store, 'dsa_control -r', await passwordOrAsk(flags.password, 'Self-protection password'))
    // Refused before asking when already bound; checked again under the lock.
    if (!flags.unbind && stateIfReadable(store) === 'pre-activated') resetAgent(store, {unbind: false})
    await confirmOrRefuse(`Reset the agent in ${store.dir}${flags.unbind ? ' and clear its binding' : ''} (it must be activated again)`, {yes: flags.yes, flagHint: '--yes'})
    const result = resetAgent(store, {unbind: flags.unbind})
    if (result.removed.length > 0) await recordEventIn(store.dir, 'reset', {previousState: result.previousState, removed: result.removed})
    this.log('HTTP Status: 200 - OK')
    this.log(result.removed.length > 0 ? `Agent reset (was ${result.previousState}); removed ${result.removed.join(', ')}` : 'Agent was already reset; nothing to remove')
    return {state: 'unactivated', dsaCore: store.dir, previousState: result.previousState, removed: result.removed}
  }
}
