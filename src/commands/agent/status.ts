import {agentStatusCommand} from '../../cli/agent/status.js'
import {AgentCommand} from '../../cli/base-command.js'

export default class AgentStatus extends AgentCommand {
  static summary = 'Show the agent state: unactivated, pre-activated (bound) or activated'
  static description = 'The certificate hash is that of the certificate the agent presents now: the shipped bootstrap certificate until activation (scripts test for it; it is tether\'s own, not the classic product\'s), the CA-issued agent certificate after. Also shows the proxy settings (never a password) and self-protection.'
  static examples = ['<%= config.bin %> agent status', '<%= config.bin %> agent status --json | jq -r .state']

  async run() {
    await this.parse(AgentStatus)
    return agentStatusCommand(this.dsaCore, this.output)
  }
}
