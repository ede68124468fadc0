import {Args} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {yesFlag} from '../../../cli/flags.js'
import {confirmOrRefuse} from '../../../cli/prompt.js'
import {removeNode} from '../../../manager/nodes.js'

export default class NodesRemove extends ManagerCommand {
  static summary = 'Remove a manager node: its certificates are revoked, so agents refuse it after their next CRL'
  static description = 'Run it on another node of the installation. The node is kept in the list as removed; agents stop being told its heartbeat address, and each agent refuses its certificate from the contact that brings it the new CRL (any node delivers it). Agents bound to the installation are not stranded: every node presents the same binding identity.'
  static examples = ['<%= config.bin %> manager nodes remove dsm2 --yes']
  static args = {name: Args.string({description: 'the node name (from `tether manager nodes list`)', required: true})}
  static flags = {yes: yesFlag}

  async run() {
    const {args, flags} = await this.parse(NodesRemove)
    await confirmOrRefuse(`Remove manager node ${args.name} (its certificate is revoked)`, {yes: flags.yes, flagHint: '--yes'})
    const {node, revoked} = await removeNode(await this.storeContext(), this.home, args.name)
    this.log(`Node ${node.name} removed; ${revoked} certificate(s) revoked`)
    return {node, revoked}
  }
}
