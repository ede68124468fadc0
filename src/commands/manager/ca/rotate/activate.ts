import {ManagerCommand} from '../../../../cli/base-command.js'
import {rotationLines} from '../../../../cli/ca-rotation-view.js'
import {activateRotation} from '../../../../manager/ca-rotation.js'

export default class RotateActivate extends ManagerCommand {
  static summary = "Issue from the new CA: the manager's own certificate is re-issued from it, and each agent is renewed onto it at its next contact; agents that hold only the old CA still reach the manager through the cross-signed certificate"
  static description = 'A running manager picks the change up within a second. `tether manager ca rotate status` shows the phase, each computer\'s progress and what the next step would strand.'
  static examples = ['<%= config.bin %> manager ca rotate activate', '<%= config.bin %> manager ca rotate activate --json']

  async run() {
    await this.parse(RotateActivate)
    const status = await activateRotation(this.home, await this.manager())
    for (const line of rotationLines(status)) this.log(line)
    return status
  }
}
