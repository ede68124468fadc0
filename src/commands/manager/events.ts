import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {printable} from '../../cli/render.js'
import {findComputer} from '../../manager/computers.js'
import {parseSince} from '../../platform/duration.js'

export default class ManagerEvents extends ManagerCommand {
  static summary = 'Show events picked up from agents (oldest first)'
  static examples = [
    '<%= config.bin %> manager events --computer web-01',
    '<%= config.bin %> manager events --since 1h --type configuration-applied --json',
  ]

  static flags = {
    computer: Flags.string({description: 'only this computer (id, GUID, hostname, display name)'}),
    since: Flags.string({description: 'only events since this time (ISO 8601) or age (30s, 15m, 2h, 7d)', helpValue: 'WHEN'}),
    type: Flags.string({description: 'only this event type (activated, configuration-applied, handshake-refused, reset, ...)'}),
    limit: Flags.integer({description: 'at most this many (the newest)', default: 1000, min: 1}),
  }

  async run() {
    const {flags} = await this.parse(ManagerEvents)
    const since = flags.since === undefined ? undefined : parseSince(flags.since)
    const store = await this.store()
    const computerId = flags.computer ? (await findComputer(store, flags.computer)).id : undefined
    const events = await store.events.list({computerId, since, type: flags.type, limit: flags.limit})
    // Agents write their events: shown printable (JSON.stringify leaves C1 and bidi marks raw), exact in --json.
    for (const e of events) this.log(printable(`${e.at}  ${(e.hostname ?? `#${e.computerId}`).padEnd(20)} ${e.type.padEnd(24)} ${JSON.stringify(e.detail)}`))
    if (events.length === 0) this.log('No events')
    return {events}
  }
}
