import {ManagerCommand} from '../../../cli/base-command.js'

export default class PoliciesList extends ManagerCommand {
  static summary = 'List policies'
  static examples = ['<%= config.bin %> manager policies list --json']
  async run() {
    await this.parse(PoliciesList)
    const policies = await (await this.store()).policies.list()
    if (policies.length === 0) this.log('No policies')
    for (const p of policies) this.log(`${String(p.id).padStart(4)}  ${p.name}  version ${p.version}  ${p.sha256.slice(0, 16)}…  updated ${p.updatedAt}`)
    return {policies}
  }
}
