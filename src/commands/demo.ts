import {Flags} from '@oclif/core'

import {TetherCommand} from '../cli/base-command.js'
import {StepProgress} from '../cli/progress.js'
import {TetherError} from '../errors.js'
import {runDemo} from '../lab/demo.js'

export default class Demo extends TetherCommand {
  static summary = 'Run the whole trust system end to end, embedded, on loopback (the main job)'
  static description = `In a temporary directory, with nothing installed beforehand: initializes a manager (its own CA), starts its heartbeat listener and N agents on 127.0.0.1 (ephemeral ports), binds one agent, refuses a rogue manager, activates one agent manager-initiated, one agent-initiated through the real dsa_control and the bound one, pushes an encrypted policy, shows a heartbeat, inspects a handshake, deactivates one agent and resets another. Each step checks its outcome; exit code 0 only if every step behaved as expected.`
  static examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --agents 5 --keep', '<%= config.bin %> demo --json | jq .ok']
  static flags = {
    agents: Flags.integer({description: 'how many agents (at least 3)', default: 3, min: 3, max: 50}),
    keep: Flags.boolean({description: 'keep the temporary directory (manager home, dsa_core directories) to look at afterwards', default: false}),
  }

  async run() {
    const {flags} = await this.parse(Demo)
    const progress = new StepProgress(this.jsonEnabled(), (line) => this.log(line))
    const result = await runDemo({
      agents: flags.agents,
      keep: flags.keep,
      observer: {start: (i, title) => progress.start(i, title), finish: (i, step) => progress.finish(i, step.ok, step.title, step.detail, step.ms)},
    })
    if (!result.ok) {
      const failed = result.steps.find((s) => !s.ok)!
      throw new TetherError('internal', 'demo-failed', `demo step ${result.steps.indexOf(failed) + 1} (${failed.title}) did not behave as expected: ${failed.detail}`, {
        hint: 'rerun with --keep and look at the directory it prints; `tether handshake log` shows the handshakes',
        details: {steps: result.steps},
      })
    }

    this.log(`\nDemo complete: ${result.steps.length} steps behaved as expected.${flags.keep ? ` Files kept in ${result.dir}` : ''}`)
    return {ok: true, dir: flags.keep ? result.dir : null, steps: result.steps}
  }
}
