import {ManagerCommand} from '../../../cli/base-command.js'
import {JsonArrayOutput} from '../../../cli/chunked-output.js'
import {paint, printable} from '../../../cli/render.js'
import type {CertificateLife} from '../../../manager/certificate-life.js'
import {listComputers} from '../../../manager/computer-listing.js'

export default class ComputersList extends ManagerCommand {
  static summary = 'List the computers in the registry'
  static description = 'One line per computer: state, presence, configuration, communication mode, certificate (days left, or where its renewal stands: renewal-due, renewing, overdue, expiring, expired, beyond-grace), name, address, last contact. With --json, each computer has `certificate` {notAfter, renewsAt, daysLeft, standing, attention}; attention is true for overdue, expiring, expired and beyond-grace.'
  static examples = ['<%= config.bin %> manager computers list', '<%= config.bin %> manager computers list --json | jq -r ".computers[].hostname"']
  async run() {
    await this.parse(ComputersList)
    // Written as it is read (the same document as a returned {computers}): a large registry is never held at once.
    const output = this.chunkedOutput()
    const json = this.jsonEnabled() ? new JsonArrayOutput(output, 'computers') : undefined
    let count = 0
    for await (const computer of listComputers(await this.store())) {
      count++
      if (json) {
        json.element(computer)
        continue
      }

      // Hostnames and display names are the agents' own words: shown printable, exact in --json.
      const c = computer
      const shown = (text: string | null) => (text === null ? text : printable(text))
      output.line(`${String(c.id).padStart(4)}  ${printable(c.state).padEnd(12)} ${printable(c.presence).padEnd(8)} ${(c.configuration.upToDate ? 'config ok' : 'config old').padEnd(11)}${printable(c.mode).padEnd(17)} ${certificateColumn(c.certificate)} ${printable(c.hostname)}${c.displayName ? ` (${printable(c.displayName)})` : ''}  ${shown(c.address) ?? ''}  last seen ${shown(c.lastSeenAt) ?? 'never'}`)
    }

    if (json) json.end()
    else if (count === 0) output.line('No computers')
    output.flush()
  }
}

/** `cert 245d` while all is well; otherwise the standing, coloured when it needs attention. */
function certificateColumn(life: CertificateLife | null): string {
  const text = (!life ? 'cert -' : life.standing === 'ok' ? `cert ${life.daysLeft}d` : `cert ${life.standing}`).padEnd(17)
  return life?.attention ? paint.stdout.yellow(text) : text
}
