import {recordEventIn} from '../../agent/database.js'
import {resetAgent} from '../../agent/store.js'
import {AgentCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'
import {confirmOrRefuse} from '../../cli/prompt.js'

export default class AgentReset extends AgentCommand {
  static summary = 'Reset the agent to unactivated: clear credentials, configuration and binding'
  static description = 'Removes ds_agent.key, ds_agent.crt, ds_agent_dsm.crt (the binding too), ds_agent_dsm_ca.crt and ds_agent.config as one atomic change; a running agent switches back to the bootstrap context without a restart. Idempotent. Asks for confirmation on a terminal unless --yes; never asks a script (without a terminal, --yes is required). `dsa_control -r` is the same and never prompts.'
  static examples = ['<%= config.bin %> agent reset --yes', 'dsa_control -r']
  static flags = {yes: yesFlag}

  async run() {
    const {flags} = await this.parse(AgentReset)
    const store = this.dsaCore
    await confirmOrRefuse(`Reset the agent in ${store.dir} (it must be activated again)`, {yes: flags.yes, flagHint: '--yes'})
    const result = resetAgent(store)
    if (result.removed.length > 0) await recordEventIn(store.dir, 'reset', {previousState: result.previousState, removed: result.removed})
    this.log(result.removed.length > 0 ? `Agent reset (was ${result.previousState}); removed ${result.removed.join(', ')}` : 'Agent was already reset; nothing to remove')
    return {state: 'unactivated', dsaCore: store.dir, previousState: result.previousState, removed: result.removed}
  }
}
