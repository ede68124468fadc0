import {Args, Flags} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {printable} from '../../../cli/render.js'
import {TetherError} from '../../../errors.js'
import {findComputer} from '../../../manager/computers.js'
import {requestRenewals} from '../../../manager/renewal-request.js'

export default class ComputersRenew extends ManagerCommand {
  static summary = "Renew a computer's certificate (or every computer's) at its next contact, whatever its age"
  static description = 'Marks the computer to renew: at its next contact in either direction the agent makes a new key pair and the CA signs it; the old certificate is revoked once the agent presents the new one. With --now, the computers the manager can reach (manager-initiated or bidirectional, with an address) are contacted at once; agent-initiated ones renew at their next heartbeat. Renewal is automatic past renewAfter of a certificate\'s lifetime; this is for a key that may be exposed, or a drill.'
  static examples = [
    '<%= config.bin %> manager computers renew web-01',
    '<%= config.bin %> manager computers renew --all --now --json',
  ]

  static args = {computer: Args.string({description: 'id, GUID, hostname, display name or address'})}
  static flags = {
    all: Flags.boolean({description: 'every activated computer'}),
    now: Flags.boolean({description: 'contact the computers the manager can reach now, instead of waiting for their next contact'}),
  }

  async run() {
    const {args, flags} = await this.parse(ComputersRenew)
    // An unset boolean flag is undefined, not false.
    if (Boolean(flags.all) === (args.computer !== undefined)) {
      throw new TetherError('usage', 'renew-what', flags.all ? 'give either COMPUTER or --all, not both' : 'name a computer, or pass --all', {hint: 'tether manager computers renew web-01, or tether manager computers renew --all'})
    }

    const manager = await this.manager()
    const computer = args.computer === undefined ? undefined : await findComputer(manager.store, args.computer)
    if (computer && computer.state !== 'activated') {
      throw new TetherError('refused', 'not-activated', `computer ${computer.id} is ${computer.state}: only an activated computer has a certificate to renew`, {hint: 'activate it first (tether manager activate, or dsa_control -a on the computer)'})
    }

    const results = await requestRenewals(manager, computer ? [computer] : 'all', {now: flags.now})
    if (results.length === 0) this.log('No activated computers')
    for (const r of results) this.log(printable(`Computer ${r.computer.id} (${r.computer.hostname}): ${r.renewed ? 'renewed' : r.reason}`))
    return {computers: results}
  }
}
