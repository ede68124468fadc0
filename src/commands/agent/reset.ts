import {Flags} from '@oclif/core'

import {agentResetCommand} from '../../cli/agent/reset.js'
import {passwordFlag} from '../../cli/agent-flags.js'
import {AgentCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'

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
    return agentResetCommand(this.dsaCore, flags, this.output)
  }
}
