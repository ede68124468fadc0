import {TetherCommand} from '../../../cli/base-command.js'
import {homeFlag} from '../../../cli/flags.js'
import {listComputers, viewComputer} from '../../../manager/computers.js'
import {configurationState} from '../../../manager/policies.js'
import {getSettings} from '../../../manager/settings.js'
import {ManagerHome} from '../../../manager/home.js'
import {resolveManagerHome} from '../../../platform/paths.js'

export default class ComputersList extends TetherCommand {
  static summary = 'List the computers in the registry'
  static examples = ['<%= config.bin %> manager computers list', '<%= config.bin %> manager computers list --json | jq -r ".computers[].hostname"']
  static flags = {home: homeFlag}

  async run() {
    const {flags} = await this.parse(ComputersList)
    const db = await new ManagerHome(resolveManagerHome(flags.home)).openRegistry()
    try {
      const defaults = getSettings(db)
      const computers = listComputers(db).map((c) => ({...viewComputer(c, defaults), configuration: configurationState(db, c)}))
      if (computers.length === 0) this.log('No computers')
      for (const c of computers) {
        this.log(`${String(c.id).padStart(4)}  ${c.state.padEnd(12)} ${c.presence.padEnd(8)} ${(c.configuration.upToDate ? 'config ok' : 'config old').padEnd(11)}${c.mode.padEnd(17)} ${c.hostname}${c.displayName ? ` (${c.displayName})` : ''}  ${c.address ?? ''}  last seen ${c.lastSeenAt ?? 'never'}`)
      }

      return {computers}
    } finally {
      db.close()
    }
  }
}
