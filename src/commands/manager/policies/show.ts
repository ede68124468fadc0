import {Args} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {findPolicy} from '../../../manager/policies.js'

export default class PoliciesShow extends ManagerCommand {
  static summary = 'Show a policy: version, fingerprint and document'
  static examples = ['<%= config.bin %> manager policies show web']
  static args = {policy: Args.string({description: 'policy name or id', required: true})}

  async run() {
    const {args} = await this.parse(PoliciesShow)
    const policy = await findPolicy(await this.store(), args.policy)
    this.log(`${policy.name} version ${policy.version}, SHA-256 ${policy.sha256}`)
    this.log(JSON.stringify(policy.document, null, 2))
    return policy
  }
}
