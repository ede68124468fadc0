import {TetherCommand} from '../../../cli/base-command.js'
import {homeFlag} from '../../../cli/flags.js'
import {settingLine} from '../../../cli/settings-render.js'
import {ManagerHome} from '../../../manager/home.js'
import {describeSettings} from '../../../manager/settings.js'
import {resolveManagerHome} from '../../../platform/paths.js'

export default class SettingsList extends TetherCommand {
  static summary = 'List every manager setting with its value, allowed values and classic key'
  static examples = ['<%= config.bin %> manager settings list', '<%= config.bin %> manager settings list --json']
  static flags = {home: homeFlag}

  async run() {
    const {flags} = await this.parse(SettingsList)
    const db = await new ManagerHome(resolveManagerHome(flags.home)).openRegistry()
    try {
      const settings = describeSettings(db)
      for (const s of settings) {
        this.log(settingLine(s))
        this.log(`    ${s.summary}; values: ${s.values}`)
      }

      return {settings}
    } finally {
      db.close()
    }
  }
}
