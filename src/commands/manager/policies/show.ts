import {Args} from '@oclif/core'

import {TetherCommand} from '../../../cli/base-command.js'
import {homeFlag} from '../../../cli/flags.js'
import {withManager} from '../../../cli/manager-context.js'
import {findPolicy} from '../../../manager/policies.js'

export default class PoliciesShow extends TetherCommand {
  static summary = 'Show a policy: version, fingerprint and document'
  static examples = ['<%= config.bin %> manager policies show web']
  static args = {policy: Args.string({description: 'policy name or id', required: true})}
  static flags = {home: homeFlag}

  async run() {
    const {args, flags} = await this.parse(PoliciesShow)
    return withManager(flags.home, ({db}) => {
      const policy = findPolicy(db, args.policy)
      this.log(`${policy.name} version ${policy.version}, SHA-256 ${policy.sha256}`)
      this.log(JSON.stringify(policy.document, null, 2))
      return policy
    })
  }
}
