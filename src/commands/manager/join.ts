import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {fieldLines} from '../../cli/render.js'
import {defaultHostnames} from '../../manager/home.js'
import {DATABASE_URL_ENV} from '../../manager/node-home.js'
import {joinInstallation} from '../../manager/node-join.js'

export default class ManagerJoin extends ManagerCommand {
  static summary = 'Add this machine as a manager node of an installation on PostgreSQL, with an invitation'
  static description = `Creates the node's home (--home): its own key and a manager-role certificate from the installation's CA (names from --hostname), the CA certificate, the key-encryption key from the invitation (kek.key, 0600) and the database URL (database.url, 0600, unless it came from $${DATABASE_URL_ENV}). The invitation must be unused and unexpired; it is consumed as the node is added. Start the node with \`tether manager start\` on its home.`
  static examples = [
    '<%= config.bin %> manager join --invite /root/dsm2.invite --database postgres://tether:PASSWORD@db.example.internal/tether --home /var/lib/tether --hostname dsm2.example.internal --name dsm2',
  ]

  static flags = {
    invite: Flags.string({description: 'the invitation file (from `tether manager nodes invite`)', required: true, helpValue: 'FILE'}),
    database: Flags.string({description: `the installation's database URL (default: $${DATABASE_URL_ENV}, else the invitation's, which has no password: PGPASSWORD or ~/.pgpass)`, helpValue: 'URL'}),
    hostname: Flags.string({description: 'DNS name or IP address for this node\'s certificate (repeatable; default: this machine\'s hostname, localhost and 127.0.0.1)', multiple: true}),
    name: Flags.string({description: 'this node\'s name among the installation\'s nodes (default: this machine\'s hostname)'}),
  }

  async run() {
    const {flags} = await this.parse(ManagerJoin)
    const home = await joinInstallation(this.home.dir, {invitation: flags.invite, database: flags.database, hostnames: flags.hostname ?? defaultHostnames(), name: flags.name})
    const summary = await home.summary()
    this.log(`Joined: manager node ${summary.node} at ${summary.home}`)
    this.log(fieldLines([
      ['Database', summary.database],
      ['Manager certificate', summary.manager.subject],
      ['Names', summary.manager.subjectAltNames],
      ['SHA-256', summary.manager.sha256],
    ], '  ').join('\n'))
    return summary
  }
}
