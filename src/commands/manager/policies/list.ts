import {TetherCommand} from '../../../cli/base-command.js'
import {homeFlag} from '../../../cli/flags.js'
import {withManager} from '../../../cli/manager-context.js'
import {listPolicies} from '../../../manager/policies.js'

export default class PoliciesList extends TetherCommand {
  static summary = 'List policies'
  static examples = ['<%= config.bin %> manager policies list --json']
  static flags = {home: homeFlag}

  async run() {
    const {flags} = await this.parse(PoliciesList)
    return withManager(flags.home, ({db}) => {
      const policies = listPolicies(db)
      if (policies.length === 0) this.log('No policies')
      for (const p of policies) this.log(`${String(p.id).padStart(4)}  ${p.name}  version ${p.version}  ${p.sha256.slice(0, 16)}…  updated ${p.updatedAt}`)
      return {policies}
    })
  }
}
