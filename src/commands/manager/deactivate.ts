import {Args, Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'
import {confirmOrRefuse, valueOrAsk} from '../../cli/prompt.js'
import {findComputer} from '../../manager/computers.js'
import {deactivate} from '../../manager/deactivation.js'

export default class ManagerDeactivate extends ManagerCommand {
  static summary = "Deactivate a computer: clear the agent's credentials and revoke its certificate"
  static description = `Sends Deactivate (directly when its communication mode allows, else at its next heartbeat). The agent clears its key, certificates, configuration and binding and returns to the bootstrap context without a restart; then the manager revokes its certificate, so a saved copy can no longer complete a mutual TLS handshake with the manager in either direction (see tether manager crl). An unreachable agent stays "deactivation pending" until its next contact; --force removes the computer now, its certificate revoked all the same. Asks for confirmation on a terminal unless --yes.`
  static examples = ['<%= config.bin %> manager deactivate web-01 --yes', '<%= config.bin %> manager deactivate 3 --force --yes --json']
  static args = {computer: Args.string({description: 'id, GUID, hostname, display name or address (asked for on a terminal when missing)'})}
  static flags = {
    force: Flags.boolean({description: 'if the agent cannot be reached now, remove the computer anyway (certificate revoked)', default: false}),
    yes: yesFlag,
  }

  async run() {
    const {args, flags} = await this.parse(ManagerDeactivate)
    const ref = await valueOrAsk(args.computer, {what: 'the computer to deactivate', message: 'Computer to deactivate (id, hostname or address)', hint: 'list them with tether manager computers list'})
    const manager = await this.manager()
    const computer = await findComputer(manager.store, ref)
    await confirmOrRefuse(`Deactivate computer ${computer.id} (${computer.hostname})`, {yes: flags.yes, flagHint: '--yes'})
    const result = await deactivate(manager, ref, {force: flags.force})
    const messages = {
      deactivated: `Computer ${computer.id} deactivated; its certificate ${computer.certSerial} is revoked`,
      'deactivation-pending': `Computer ${computer.id} is deactivation pending (${result.reason}); it is finished at the agent's next contact, or use --force`,
      removed: `Computer ${computer.id} removed without reaching the agent (${result.reason}); its certificate ${computer.certSerial} is revoked`,
    }
    this.log(messages[result.outcome])
    return result
  }
}
