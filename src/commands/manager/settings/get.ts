import {Args, Flags} from '@oclif/core'

import {TetherCommand} from '../../../cli/base-command.js'
import {homeFlag} from '../../../cli/flags.js'
import {settingLine} from '../../../cli/settings-render.js'
import {ManagerHome} from '../../../manager/home.js'
import {describeSetting} from '../../../manager/settings.js'
import {resolveManagerHome} from '../../../platform/paths.js'

export default class SettingsGet extends TetherCommand {
  static summary = 'Show one manager setting (tether name or classic key)'
  static examples = [
    '<%= config.bin %> manager settings get agentInitiatedActivation',
    '<%= config.bin %> manager settings get settings.configuration.defaultHeartbeatPeriod --json',
    'dsm_c -action viewsetting -name settings.configuration.agentInitiatedActivation',
  ]

  static args = {name: Args.string({description: 'setting name', required: true})}
  static flags = {home: homeFlag, reveal: Flags.boolean({description: 'show secret values (the activation token)', default: false})}

  async run() {
    const {args, flags} = await this.parse(SettingsGet)
    const db = await new ManagerHome(resolveManagerHome(flags.home)).openRegistry()
    try {
      const setting = describeSetting(db, args.name, {reveal: flags.reveal})
      this.log(settingLine(setting))
      return setting
    } finally {
      db.close()
    }
  }
}
