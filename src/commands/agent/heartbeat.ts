import {Flags} from '@oclif/core'

import {ENGINE_WORDS} from '../../agent/words.js'
import {agentHeartbeatCommand} from '../../cli/agent/heartbeat.js'
import {passwordFlag, serviceRetriesFlag} from '../../cli/agent-flags.js'
import {AgentCommand} from '../../cli/base-command.js'

export default class AgentHeartbeat extends AgentCommand {
  static summary = 'Send a heartbeat to the manager now (same as dsa_control -m)'
  static description = `Through the running agent if there is one, else from this process. The manager reads the agent status and runs the operations queued for it. Words change the computer as the classic manager applies them: policy: (name), policyid: (id), displayname:, description:, group: (/ makes a hierarchy), and the words tether stores without acting on (groupid:, relaygroup:, relaygroupid:, relayid:, externalid:); UpdateConfiguration:true sends the policy now. On-demand words for engines tether does not have (${Object.values(ENGINE_WORDS).map((w) => w.split(':')[0]).join(', ')}) are recorded as an event and answered with a note; exit 0. Prints "HTTP Status: 200 - OK" on success. A computer in manager-initiated mode never opens a connection: refused with 403. Needs the self-protection password (--password) when the policy sets one.`
  static examples = ['<%= config.bin %> agent heartbeat', 'dsa_control -m', 'dsa_control -m "policy:Base Policy" "displayname:web 01"', 'dsa_control -m UpdateConfiguration:true']
  static strict = false
  static flags = {
    password: passwordFlag,
    'service-retries': serviceRetriesFlag,
    'no-contact': Flags.boolean({description: 'only record the on-demand words; do not contact the manager (dsa_control --buildBaseline, --scanForChanges)', hidden: true, default: false}),
  }

  async run() {
    const {argv, flags} = await this.parse(AgentHeartbeat)
    return agentHeartbeatCommand(this.dsaCore, argv as string[], flags, this.output)
  }
}
