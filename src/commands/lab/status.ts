import {Flags} from '@oclif/core'

import {TetherCommand} from '../../cli/base-command.js'
import {printable} from '../../cli/render.js'
import {labStatus} from '../../lab/lab.js'

export default class LabStatus extends TetherCommand {
  static summary = 'Show the lab: its processes and the computers the manager sees'
  static examples = ['<%= config.bin %> lab status', '<%= config.bin %> lab status --json']
  static flags = {dir: Flags.string({description: 'lab directory (default: the last lab started)', helpValue: 'DIR'})}

  async run() {
    const {flags} = await this.parse(LabStatus)
    const status = await labStatus(flags.dir)
    if (!status.manager) {
      this.log(status.dir ? `No lab in ${status.dir}` : "No lab started (tether lab up starts one)")
      return status
    }

    this.log(`Lab in ${status.dir}: ${status.running ? 'running' : 'stopped'}`)
    this.log(`  manager  pid ${status.manager.pid} ${status.manager.alive ? 'up' : 'down'}  ${status.manager.url}`)
    for (const a of status.agents) this.log(`  agent    pid ${a.pid} ${a.alive ? 'up' : 'down'}  ${a.address}`)
    for (const c of status.computers) this.log(`  computer ${c.id} ${printable(c.hostname)}: ${c.state}, ${c.presence}`)
    return status
  }
}
