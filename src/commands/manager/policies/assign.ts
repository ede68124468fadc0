import {Args} from '@oclif/core'

import {TetherCommand} from '../../../cli/base-command.js'
import {homeFlag} from '../../../cli/flags.js'
import {withManager} from '../../../cli/manager-context.js'
import {assignPolicy} from '../../../manager/policies.js'

export default class PoliciesAssign extends TetherCommand {
  static summary = 'Assign a policy to a computer (queues a configuration update)'
  static description = 'The update is delivered at the next contact: the next heartbeat, or now with `tether manager send-policy`.'
  static examples = ['<%= config.bin %> manager policies assign web web-01']
  static args = {
    policy: Args.string({description: 'policy name or id', required: true}),
    computer: Args.string({description: 'id, GUID, hostname, display name or address', required: true}),
  }

  static flags = {home: homeFlag}

  async run() {
    const {args, flags} = await this.parse(PoliciesAssign)
    return withManager(flags.home, ({db}) => {
      const {policy, computer} = assignPolicy(db, args.policy, args.computer)
      this.log(`Policy ${policy.name} (version ${policy.version}) assigned to computer ${computer.id}; configuration update queued`)
      return {policy: {name: policy.name, version: policy.version, sha256: policy.sha256}, computer: {id: computer.id, hostname: computer.hostname}}
    })
  }
}
