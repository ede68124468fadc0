import {ManagerCommand} from '../../../../cli/base-command.js'
import {rotationLines} from '../../../../cli/ca-rotation-view.js'
import {rotationStatus} from '../../../../manager/ca-rotation.js'

export default class RotateStatus extends ManagerCommand {
  static summary = 'Show the CA rotation: its phase, the CAs, each computer\'s progress onto the new CA, and exactly which computers the next step would strand'
  static description = 'With --json: `phase` (none, prepared, active), `issuing`, `old`, `new`, `computers` {activated, onNewCa, contactedSincePrepare}, `pending` (the computers not on the new CA yet), `steps` (each open step with `wouldStrand`, a list of computers with id and hostname, and `tokensEnded`), `needsReactivation` (computers a forced retire left behind, with the command to run).'
  static examples = ['<%= config.bin %> manager ca rotate status', '<%= config.bin %> manager ca rotate status --json | jq \'.steps[] | select(.step == "retire") | .wouldStrand\'']

  async run() {
    await this.parse(RotateStatus)
    const status = await rotationStatus(await this.manager())
    for (const line of rotationLines(status)) this.log(line)
    return status
  }
}
