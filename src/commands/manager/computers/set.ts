import {Args, Flags} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {CommunicationMode, findComputer, reload} from '../../../manager/computers.js'
import {heartbeatCommunication} from '../../../manager/heartbeat-addresses.js'
import {getSettings} from '../../../manager/settings.js'

export default class ComputersSet extends ManagerCommand {
  static summary = "Change a computer's communication mode and heartbeat overrides"
  static description = 'Updates the registry and queues SetCommunication for the agent (delivered at its next contact). --heartbeat-interval and --missed-heartbeats override the manager defaults; pass "default" to clear an override.'
  static examples = [
    '<%= config.bin %> manager computers set web-01 --mode agent-initiated --heartbeat-interval 60',
    '<%= config.bin %> manager computers set 3 --missed-heartbeats default',
  ]

  static args = {computer: Args.string({description: 'id, GUID, hostname, display name or address', required: true})}
  static flags = {
    mode: Flags.string({description: 'communication mode', options: ['bidirectional', 'manager-initiated', 'agent-initiated']}),
    'heartbeat-interval': Flags.string({description: 'seconds between heartbeats, or "default"'}),
    'missed-heartbeats': Flags.string({description: 'missed heartbeats before offline, or "default"'}),
  }

  async run() {
    const {args, flags} = await this.parse(ComputersSet)
    const override = (text: string | undefined, name: string, max: number) => {
      if (text === undefined) return undefined
      if (text === 'default') return null
      const n = Number(text)
      if (!Number.isInteger(n) || n < 1 || n > max) this.error(`--${name} must be a whole number from 1 to ${max}, or "default"`, {exit: 2})
      return n
    }

    const change = {
      mode: flags.mode as CommunicationMode | undefined,
      heartbeatIntervalSeconds: override(flags['heartbeat-interval'], 'heartbeat-interval', 86_400),
      missedHeartbeats: override(flags['missed-heartbeats'], 'missed-heartbeats', 100),
    }
    const store = await this.store()
    const computer = await findComputer(store, args.computer)
    await store.computers.setCommunication(computer.id, change)
    const updated = await reload(store, computer.id)
    const settings = await getSettings(store)
    const heartbeat = await heartbeatCommunication({store, now: () => new Date(), node: this.home.nodeName()})
    const operation = await store.operations.queue(computer.id, 'SetCommunication', {
      mode: updated.mode,
      heartbeatSeconds: updated.heartbeatIntervalSeconds ?? settings.heartbeatIntervalSeconds,
      ...(heartbeat.managerAddress ? heartbeat : {}),
    }, new Date())
    this.log(`Computer ${updated.id}: ${updated.mode}, heartbeat ${updated.heartbeatIntervalSeconds ?? `${settings.heartbeatIntervalSeconds} (default)`} s; agent update queued as operation ${operation.id}`)
    return {computer: updated, operation}
  }
}
