import {ManagerCommand} from '../../../../cli/base-command.js'
import {rotationLines} from '../../../../cli/ca-rotation-view.js'
import {rollbackRotation} from '../../../../manager/ca-rotation.js'

export default class RotateRollback extends ManagerCommand {
  static summary = "Step back one phase: from active, the old CA issues again (agents move back as they contact); from prepared, the new CA is dropped (refused while a computer still holds one of its certificates)"
  static description = 'A running manager picks the change up within a second. `tether manager ca rotate status` shows the phase, each computer\'s progress and what the next step would strand.'
  static examples = ['<%= config.bin %> manager ca rotate rollback', '<%= config.bin %> manager ca rotate rollback --json']

  async run() {
    await this.parse(RotateRollback)
    const status = await rollbackRotation(this.home, await this.manager())
    for (const line of rotationLines(status)) this.log(line)
    return status
  }
}
