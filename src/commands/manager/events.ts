import {Flags} from '@oclif/core'

import {TetherCommand} from '../../cli/base-command.js'
import {homeFlag} from '../../cli/flags.js'
import {withManager} from '../../cli/manager-context.js'
import {TetherError} from '../../errors.js'
import {findComputer} from '../../manager/computers.js'
import {listEvents} from '../../manager/events.js'

export default class ManagerEvents extends TetherCommand {
  static summary = 'Show events picked up from agents (oldest first)'
  static examples = [
    '<%= config.bin %> manager events --computer web-01',
    '<%= config.bin %> manager events --since 2026-11-01T00:00:00Z --type configuration-applied --json',
  ]

  static flags = {
    home: homeFlag,
    computer: Flags.string({description: 'only this computer (id, GUID, hostname, display name)'}),
    since: Flags.string({description: 'only events at or after this ISO 8601 time'}),
    type: Flags.string({description: 'only this event type (activated, configuration-applied, handshake-refused, reset, ...)'}),
    limit: Flags.integer({description: 'at most this many (the newest)', default: 1000, min: 1}),
  }

  async run() {
    const {flags} = await this.parse(ManagerEvents)
    if (flags.since !== undefined && Number.isNaN(Date.parse(flags.since))) {
      throw new TetherError('usage', 'bad-since', `--since "${flags.since}" is not a date`, {hint: 'use ISO 8601, e.g. 2026-11-22T08:00:00Z'})
    }

    return withManager(flags.home, ({db}) => {
      const computerId = flags.computer ? findComputer(db, flags.computer).id : undefined
      const events = listEvents(db, {computerId, since: flags.since ? new Date(flags.since).toISOString() : undefined, type: flags.type, limit: flags.limit})
      for (const e of events) this.log(`${e.at}  ${(e.hostname ?? `#${e.computerId}`).padEnd(20)} ${e.type.padEnd(24)} ${JSON.stringify(e.detail)}`)
      if (events.length === 0) this.log('No events')
      return {events}
    })
  }
}
