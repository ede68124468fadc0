import {Flags} from '@oclif/core'

import {TetherCommand} from '../../cli/base-command.js'
import {labUp} from '../../lab/lab.js'

export default class LabUp extends TetherCommand {
  static summary = 'Start a lab: a manager and activated agents left running on loopback to try commands against'
  static description = 'Initializes a manager home in the lab directory, starts `tether manager start` and N `tether agent start` processes in the background (logs beside them), activates every agent, and prints the environment variables that point the CLI at the lab. Stop it with `tether lab down`.'
  static examples = ['<%= config.bin %> lab up', 'eval "$(<%= config.bin %> lab up --agents 2 | grep ^export)"', '<%= config.bin %> lab up --dir ./lab --json']
  static flags = {
    agents: Flags.integer({description: 'how many agents', default: 3, min: 1, max: 50}),
    dir: Flags.string({description: 'lab directory, made private (0700) if new; an existing one must be yours and private (default: a new private directory under $TMPDIR)', helpValue: 'DIR'}),
  }

  async run() {
    const {flags} = await this.parse(LabUp)
    const state = await labUp(flags.dir, flags.agents)
    this.log(`Lab running in ${state.dir}`)
    this.log(`  manager  pid ${state.manager.pid}, heartbeat listener ${state.manager.url}`)
    for (const a of state.agents) this.log(`  agent    pid ${a.pid}, ${a.address} (${a.hostname}), dsa_core ${a.dsaCore}`)
    this.log('Point the CLI at it:')
    for (const [name, value] of Object.entries(state.env)) this.log(`export ${name}=${JSON.stringify(value)}`)
    return state
  }
}
