import {Args} from '@oclif/core'

import {TetherCommand} from '../../cli/base-command.js'
import {homeFlag} from '../../cli/flags.js'
import {withManager} from '../../cli/manager-context.js'
import {findComputer} from '../../manager/computers.js'
import {contactNow} from '../../manager/contact.js'
import {configurationState, queueConfiguration} from '../../manager/policies.js'

export default class SendPolicy extends TetherCommand {
  static summary = "Send a computer its policy's configuration now, or queue it for its next heartbeat"
  static description = 'Manager-initiated and bidirectional computers with a known address are contacted now (mutual TLS; the configuration is encrypted to the agent certificate as CMS EnvelopedData). Agent-initiated computers get it at their next heartbeat.'
  static examples = ['<%= config.bin %> manager send-policy web-01', '<%= config.bin %> manager send-policy 3 --json']
  static args = {computer: Args.string({description: 'id, GUID, hostname, display name or address', required: true})}
  static flags = {home: homeFlag}

  async run() {
    const {args, flags} = await this.parse(SendPolicy)
    return withManager(flags.home, async (manager) => {
      const computer = findComputer(manager.db, args.computer)
      queueConfiguration(manager.db, computer.id)
      const outcome = await contactNow(manager, computer)
      const state = configurationState(manager.db, findComputer(manager.db, String(computer.id)))
      this.log(outcome.contacted
        ? `Computer ${computer.id}: ${state.upToDate ? `configuration ${state.applied.policy} version ${state.applied.version} applied` : 'contacted, but the configuration is not applied (see tether manager computers show)'}`
        : `Computer ${computer.id}: queued (${outcome.reason})`)
      return {computer: {id: computer.id, hostname: computer.hostname}, delivered: outcome.contacted && state.upToDate, queued: !outcome.contacted, reason: outcome.reason ?? null, configuration: state}
    })
  }
}
