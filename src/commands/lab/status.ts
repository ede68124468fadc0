import {Flags} from '@oclif/core'

import {TetherCommand} from '../../cli/base-command.js'
import {defaultLabDir, labStatus} from '../../lab/lab.js'

export default class LabStatus extends TetherCommand {
  static summary = 'Show the lab: its processes and the computers the manager sees'
  static examples = ['<%= config.bin %> lab status', '<%= config.bin %> lab status --json']
  static flags = {dir: Flags.string({description: 'lab directory (default: $TMPDIR/tether-lab)', helpValue: 'DIR'})}

  async run() {
    const {flags} = await this.parse(LabStatus)
    const status = await labStatus(flags.dir ?? defaultLabDir())
    if (!status.manager) {
      this.log(`No lab in ${status.dir}`)
      return status
    }

    this.log(`Lab in ${status.dir}: ${status.running ? 'running' : 'stopped'}`)
    this.log(`  manager  pid ${status.manager.pid} ${status.manager.alive ? 'up' : 'down'}  ${status.manager.url}`)
    for (const a of status.agents) this.log(`  agent    pid ${a.pid} ${a.alive ? 'up' : 'down'}  ${a.address}`)
    for (const c of status.computers) this.log(`  computer ${c.id} ${c.hostname}: ${c.state}, ${c.presence}`)
    return status
  }
}
