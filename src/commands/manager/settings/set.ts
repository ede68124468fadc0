import {Args, Flags} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {settingLine} from '../../../cli/settings-render.js'
import {setSetting} from '../../../manager/settings.js'

export default class SettingsSet extends ManagerCommand {
  static summary = 'Change a manager setting; classic keys take classic values'
  static description = 'Values are checked by type. A classic key (settings.configuration.*) takes the classic encoding, e.g. agentInitiatedActivation 0/1/2 and defaultHeartbeatPeriod in minutes; the tether name takes words and seconds. Classic keys for parts tether does not have (statusMonitoringAPIEnabled, webserviceAPIEnabled, dsruAutoApplyNewDSRUs, settings.security.*, relayState per computer) are stored with a note that they have no effect. See `tether manager settings list` for every setting, its values and its classic key.'
  static examples = [
    '<%= config.bin %> manager settings set agentInitiatedActivation known',
    '<%= config.bin %> manager settings set heartbeatIntervalSeconds 60',
    'dsm_c -action changesetting -name settings.configuration.agentInitiatedActivation -value 1',
  ]

  static args = {
    name: Args.string({description: 'setting name', required: true}),
    value: Args.string({description: 'new value', required: true}),
  }

  static flags = {computer: Flags.string({description: 'for classic keys set per computer (relayState): the computer (id, GUID, hostname, display name)'})}

  async run() {
    const {args, flags} = await this.parse(SettingsSet)
    const setting = await setSetting(await this.store(), args.name, args.value, new Date(), {computer: flags.computer})
    this.log(settingLine(setting))
    return setting
  }
}
