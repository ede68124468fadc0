import {Args, Flags} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {settingLine} from '../../../cli/settings-render.js'
import {describeSetting} from '../../../manager/settings.js'

export default class SettingsGet extends ManagerCommand {
  static summary = 'Show one manager setting (tether name or classic key)'
  static examples = [
    '<%= config.bin %> manager settings get agentInitiatedActivation',
    '<%= config.bin %> manager settings get settings.configuration.defaultHeartbeatPeriod --json',
    'dsm_c -action viewsetting -name settings.configuration.agentInitiatedActivation',
  ]

  static args = {name: Args.string({description: 'setting name', required: true})}
  static flags = {
    reveal: Flags.boolean({description: 'show secret values (the activation token)', default: false}),
    computer: Flags.string({description: 'for classic keys set per computer (relayState): the computer'}),
  }

  async run() {
    const {args, flags} = await this.parse(SettingsGet)
    const setting = await describeSetting(await this.store(), args.name, {reveal: flags.reveal, computer: flags.computer})
    this.log(settingLine(setting))
    return setting
  }
}
