import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../../../cli/base-command.js'
import {rotationLines} from '../../../../cli/ca-rotation-view.js'
import {printable} from '../../../../cli/render.js'
import {retireRotation} from '../../../../manager/ca-rotation.js'

export default class RotateRetire extends ManagerCommand {
  static summary = 'Finish a CA rotation: the old CA is no longer trusted. Refused while computers are not on the new CA yet, unless --force'
  static description = 'Every live enrolment token pins the old CA and stops working: the result lists them (`tokensEnded`). With --force, the computers still on the old CA are marked for reactivation and listed with the command to run on each (`stranded`, and later in `tether manager ca rotate status`).'
  static examples = ['<%= config.bin %> manager ca rotate retire', '<%= config.bin %> manager ca rotate retire --force --json']
  static flags = {force: Flags.boolean({description: 'retire even though some computers are not on the new CA yet (they need reactivation)'})}

  async run() {
    const {flags} = await this.parse(RotateRetire)
    const result = await retireRotation(this.home, await this.manager(), {force: flags.force})
    for (const line of rotationLines(result)) this.log(line)
    if (result.tokensEnded.length > 0) this.log(`Enrolment tokens ended (they pinned the old CA): ${result.tokensEnded.join(', ')}; make new ones with tether manager tokens create`)
    for (const c of result.stranded) this.log(printable(`Stranded: computer ${c.id} (${c.hostname}): reactivate it`))
    return result
  }
}
