import {Flags} from '@oclif/core'

import {TetherCommand} from '../../cli/base-command.js'
import {labDown} from '../../lab/lab.js'

export default class LabDown extends TetherCommand {
  static summary = "Stop the lab's processes (and with --purge, delete its directory)"
  static examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --purge']
  static flags = {
    dir: Flags.string({description: 'lab directory (default: the last lab started)', helpValue: 'DIR'}),
    purge: Flags.boolean({description: 'also delete the lab directory (manager home, agents, logs)', default: false}),
  }

  async run() {
    const {flags} = await this.parse(LabDown)
    const result = await labDown(flags.dir, {purge: flags.purge})
    this.log(`Stopped ${result.stopped.length} process(es)${result.purged ? '; lab directory removed' : ''}`)
    return result
  }
}
