import {Args, Flags} from '@oclif/core'

import {QUERY_COMMANDS, configurationXml, filterFields, queryFields, resolveQueryCommand} from '../../agent/query.js'
import {AgentCommand} from '../../cli/base-command.js'
import {statusLine} from '../../compat/status.js'
import {TetherError} from '../../errors.js'

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
    const store = this.dsaCore
    if (!store.exists()) {
      throw new TetherError('notFound', 'dsa-core-missing', `there is no agent at ${store.dir}`, {hint: "point --dsa-core / $TETHER_DSA_CORE at the agent's dsa_core directory"})
    }

    if (args.command.toLowerCase() === 'getconfiguration') {
      if (!flags.xml) throw new TetherError('usage', 'needs-xml', 'GetConfiguration is read as XML', {hint: 'sendCommand --get GetConfiguration (tether agent query GetConfiguration --xml)'})
      const document = configurationXml(store)
      this.log(`${statusLine(200)}\nResponse:\n\n${document}`)
      return {command: 'GetConfiguration', xml: document}
    }

    const command = resolveQueryCommand(args.command)
    const fields = filterFields(await queryFields(store, command), args.pattern)
    const line = ([name, value]: [string, string]) => (flags.raw ? `${name.slice(name.indexOf('.') + 1)}=${value}` : `${name}: ${value}`)
    if (fields.length > 0) this.log(fields.map(line).join('\n'))
    return {command, fields: Object.fromEntries(fields)}
  }
}
