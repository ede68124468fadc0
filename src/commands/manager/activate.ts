import {Args, Flags} from '@oclif/core'

import {TetherCommand} from '../../cli/base-command.js'
import {homeFlag} from '../../cli/flags.js'
import {fieldLines} from '../../cli/render.js'
import {activateAgent} from '../../manager/activation.js'
import {ManagerHome} from '../../manager/home.js'
import {resolveManagerHome} from '../../platform/paths.js'

export default class ManagerActivate extends TetherCommand {
  static summary = 'Activate an agent (manager-initiated): issue its certificate and switch it to mutual TLS'
  static description = `Connects to the agent as TLS client presenting the manager certificate, reads its host information, has it generate a key pair and CSR (the private key never leaves the agent), signs the CSR with the manager CA, installs the manager certificate, the CA certificate and the agent certificate, then reconnects over mutual TLS and confirms with GetAgentStatus before recording the computer. Activating an agent this manager already activated changes nothing; an agent activated by another manager, or bound to another, refuses.`
  static examples = [
    '<%= config.bin %> manager activate 10.0.0.12',
    '<%= config.bin %> manager activate agent1.example.internal:4118 --display-name "web 1" --json',
  ]

  static args = {target: Args.string({description: 'the agent, HOST[:PORT] (default port 4118)', required: true})}
  static flags = {
    home: homeFlag,
    'display-name': Flags.string({description: 'display name recorded for the computer'}),
    description: Flags.string({description: 'description recorded for the computer'}),
    group: Flags.string({description: 'group recorded for the computer'}),
    policy: Flags.string({description: 'policy recorded for the computer'}),
  }

  async run() {
    const {args, flags} = await this.parse(ManagerActivate)
    const home = new ManagerHome(resolveManagerHome(flags.home))
    const result = await activateAgent(home, args.target, {displayName: flags['display-name'], description: flags.description, group: flags.group, policy: flags.policy})
    const {computer} = result
    this.log(result.alreadyActivated ? `Already activated by this manager: computer ${computer.id}` : `Activated computer ${computer.id}`)
    this.log(fieldLines([
      ['Hostname', computer.hostname],
      ['GUID', computer.guid],
      ['Address', computer.address],
      ['Certificate SHA-256', computer.certSha256],
    ], '  ').join('\n'))
    return result
  }
}
