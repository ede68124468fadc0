import {ManagerCommand} from '../../../../cli/base-command.js'
import {rotationLines} from '../../../../cli/ca-rotation-view.js'
import {prepareRotation} from '../../../../manager/ca-rotation.js'

export default class RotatePrepare extends ManagerCommand {
  static summary = "Begin a CA rotation: a new CA (new key, same name) and its certificate cross-signed by the old CA; both are trusted, agents get both at their next contact, the old CA still issues"
  static description = 'A running manager picks the change up within a second. `tether manager ca rotate status` shows the phase, each computer\'s progress and what the next step would strand.'
  static examples = ['<%= config.bin %> manager ca rotate prepare', '<%= config.bin %> manager ca rotate prepare --json']

  async run() {
    await this.parse(RotatePrepare)
    const status = await prepareRotation(this.home, await this.manager())
    for (const line of rotationLines(status)) this.log(line)
    return status
  }
}
