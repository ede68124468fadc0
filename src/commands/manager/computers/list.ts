import {ManagerCommand} from '../../../cli/base-command.js'
import {paint, printableFields} from '../../../cli/render.js'
import type {CertificateLife} from '../../../manager/certificate-life.js'
import {viewComputer} from '../../../manager/computers.js'
import {configurationState} from '../../../manager/policies.js'
import {getSettings} from '../../../manager/settings.js'

export default class ComputersList extends ManagerCommand {
  static summary = 'List the computers in the registry'
  static description = 'One line per computer: state, presence, configuration, communication mode, certificate (days left, or where its renewal stands: renewal-due, renewing, overdue, expiring, expired, beyond-grace), name, address, last contact. With --json, each computer has `certificate` {notAfter, renewsAt, daysLeft, standing, attention}; attention is true for overdue, expiring, expired and beyond-grace.'
  static examples = ['<%= config.bin %> manager computers list', '<%= config.bin %> manager computers list --json | jq -r ".computers[].hostname"']
  async run() {
    await this.parse(ComputersList)
    const store = await this.store()
    const defaults = await getSettings(store)
    const computers = []
    for (const c of await store.computers.list()) computers.push({...viewComputer(c, defaults), configuration: await configurationState(store, c)})
    if (computers.length === 0) this.log('No computers')
    for (const computer of computers) {
      // Hostnames and display names are the agents' own words: shown printable, exact in --json.
      const c = {...printableFields(computer), configuration: computer.configuration}
      this.log(`${String(c.id).padStart(4)}  ${c.state.padEnd(12)} ${c.presence.padEnd(8)} ${(c.configuration.upToDate ? 'config ok' : 'config old').padEnd(11)}${c.mode.padEnd(17)} ${certificateColumn(computer.certificate)} ${c.hostname}${c.displayName ? ` (${c.displayName})` : ''}  ${c.address ?? ''}  last seen ${c.lastSeenAt ?? 'never'}`)
    }

    return {computers}
  }
}

/** `cert 245d` while all is well; otherwise the standing, coloured when it needs attention. */
function certificateColumn(life: CertificateLife | null): string {
  const text = (!life ? 'cert -' : life.standing === 'ok' ? `cert ${life.daysLeft}d` : `cert ${life.standing}`).padEnd(17)
  return life?.attention ? paint.stdout.yellow(text) : text
}
