import {ManagerCommand} from '../../../cli/base-command.js'
import {settingLine} from '../../../cli/settings-render.js'
import {postureWarnings} from '../../../manager/posture.js'
import {describeSettings} from '../../../manager/settings.js'

export default class SettingsList extends ManagerCommand {
  static summary = 'List every manager setting with its value, allowed values and classic key'
  static examples = ['<%= config.bin %> manager settings list', '<%= config.bin %> manager settings list --json']
  async run() {
    await this.parse(SettingsList)
    const settings = await describeSettings(await this.store())
    const warnings = await postureWarnings(await this.storeContext())
    this.warnAbout(warnings)
    for (const s of settings) {
      this.log(settingLine(s))
      this.log(`    ${s.summary}; values: ${s.values}`)
    }

    return {settings, warnings}
  }
}
