import {ManagerCommand} from '../../../cli/base-command.js'
import {printListing} from '../../../cli/computer-listing-output.js'
import {listComputers} from '../../../manager/computer-listing.js'

export default class ComputersList extends ManagerCommand {
  static summary = 'List the computers in the registry'
  static description = 'One line per computer: state, presence, configuration, communication mode, certificate (days left, or where its renewal stands: renewal-due, renewing, overdue, expiring, expired, beyond-grace), name, address, last contact. With --json, each computer has `certificate` {notAfter, renewsAt, daysLeft, standing, attention}; attention is true for overdue, expiring, expired and beyond-grace.'
  static examples = ['<%= config.bin %> manager computers list', '<%= config.bin %> manager computers list --json | jq -r ".computers[].hostname"']
  async run() {
    await this.parse(ComputersList)
    // Written as it is read (the same document as a returned {computers}): a large registry is never held at once.
    await printListing(listComputers(await this.store()), this.chunkedOutput(), {json: this.jsonEnabled()})
  }
}
