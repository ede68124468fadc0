import {ManagerCommand} from '../../../cli/base-command.js'
import {printable} from '../../../cli/render.js'
import {listNodes} from '../../../manager/nodes.js'

export default class NodesList extends ManagerCommand {
  static summary = 'List the manager nodes of an installation on PostgreSQL: state, heartbeat address, last seen, certificate'
  static examples = ['<%= config.bin %> manager nodes list', '<%= config.bin %> manager nodes list --json | jq -r \'.nodes[] | select(.state == "active") | .heartbeatAddress\'']

  async run() {
    await this.parse(NodesList)
    const nodes = await listNodes(await this.storeContext(), this.home)
    for (const node of nodes) {
      this.log(`${printable(node.name)}${node.self ? ' (this node)' : ''}  ${node.state.padEnd(7)}  ${node.heartbeatAddress ?? '-'}  last seen ${node.lastSeenAt ?? 'never'}  SHA-256 ${node.certSha256}`)
    }

    return {nodes}
  }
}
