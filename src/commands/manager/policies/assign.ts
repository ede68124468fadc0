import {Args} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {assignPolicy} from '../../../manager/policies.js'

export default class PoliciesAssign extends ManagerCommand {
  static summary = 'Assign a policy to a computer (queues a configuration update)'
  static description = 'The update is delivered at the next contact: the next heartbeat, or now with `tether manager send-policy`.'
  static examples = ['<%= config.bin %> manager policies assign web web-01']
  static args = {
    policy: Args.string({description: 'policy name or id', required: true}),
    computer: Args.string({description: 'id, GUID, hostname, display name or address', required: true}),
  }

  async run() {
    const {args} = await this.parse(PoliciesAssign)
    const {policy, computer} = await assignPolicy(await this.storeContext(), args.policy, args.computer)
    this.log(`Policy ${policy.name} (version ${policy.version}) assigned to computer ${computer.id}; configuration update queued`)
    return {policy: {name: policy.name, version: policy.version, sha256: policy.sha256}, computer: {id: computer.id, hostname: computer.hostname}}
  }
}
