import {Args, Flags} from '@oclif/core'

import {QUERY_COMMANDS} from '../../agent/query.js'
import {agentQueryCommand} from '../../cli/agent/query.js'
import {AgentCommand} from '../../cli/base-command.js'

export default class AgentQuery extends AgentCommand {
  static summary = 'Read the local agent as dsa_query and sendCommand do: one Section.field: value per line'
  static description = `COMMAND is ${QUERY_COMMANDS.join(', ')} (case-insensitive), or GetConfiguration with --xml. PATTERN filters by field name, case-insensitive, * a wildcard (agentCertHash, AM*). AgentStatus.agentState is green when activated and in contact (an accepted mutual-TLS session within two heartbeat intervals), yellow when activated but not heard from, red when not activated. AgentStatus.agentCertHash is the SHA-1 of the certificate the agent presents: tether's own bootstrap certificate while unactivated. --xml prints the classic GetConfiguration document (AgentConfiguration with hostID, hostGUID, tenantGUID, dsmUrls, and SecurityProfile) after two header lines and a blank line, as sendCommand --get GetConfiguration does.`
  static examples = [
    'dsa_query -c GetAgentStatus agentCertHash',
    '<%= config.bin %> agent query GetAgentStatus "dsm*"',
    'sendCommand --get GetConfiguration',
  ]

  static args = {
    command: Args.string({description: 'what to read', required: true}),
    pattern: Args.string({description: 'only fields whose name matches (case-insensitive, * a wildcard)'}),
  }

  static flags = {
    xml: Flags.boolean({description: 'GetConfiguration as the classic XML (sendCommand --get)', default: false}),
    raw: Flags.boolean({description: 'field=value without the section (dsa_query -r)', default: false}),
  }

  async run() {
    const {args, flags} = await this.parse(AgentQuery)
    return agentQueryCommand(this.dsaCore, args, flags, this.output)
  }
}
