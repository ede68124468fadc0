import {Args} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {findComputer, reload} from '../../manager/computers.js'
import {contactNow} from '../../manager/contact.js'
import {settleContact} from '../../manager/deactivation.js'
import {configurationState, queueConfiguration} from '../../manager/policies.js'

export default class SendPolicy extends ManagerCommand {
  static summary = "Send a computer its policy's configuration now, or queue it for its next heartbeat"
  static description = 'Manager-initiated and bidirectional computers with a known address are contacted now (mutual TLS; the configuration is encrypted to the agent certificate as CMS EnvelopedData). Agent-initiated computers get it at their next heartbeat.'
  static examples = ['<%= config.bin %> manager send-policy web-01', '<%= config.bin %> manager send-policy 3 --json']
  static args = {computer: Args.string({description: 'id, GUID, hostname, display name or address', required: true})}

  async run() {
    const {args} = await this.parse(SendPolicy)
    const manager = await this.manager()
    const computer = await findComputer(manager.store, args.computer)
    await queueConfiguration(manager, computer.id)
    const outcome = await contactNow(manager, computer)
    if (outcome.report) await settleContact(manager, computer, outcome.report)
    const state = await configurationState(manager.store, await reload(manager.store, computer.id))
    this.log(outcome.contacted
      ? `Computer ${computer.id}: ${state.upToDate ? `configuration ${state.applied.policy} version ${state.applied.version} applied` : 'contacted, but the configuration is not applied (see tether manager computers show)'}`
      : `Computer ${computer.id}: queued (${outcome.reason})`)
    return {computer: {id: computer.id, hostname: computer.hostname}, delivered: outcome.contacted && state.upToDate, queued: !outcome.contacted, reason: outcome.reason ?? null, configuration: state}
  }
}
