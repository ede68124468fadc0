import {Args} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {fieldLines} from '../../../cli/render.js'
import {findComputer, viewComputer} from '../../../manager/computers.js'
import {storedClassicWords} from '../../../manager/operator-words.js'
import {configurationState} from '../../../manager/policies.js'
import {getSettings} from '../../../manager/settings.js'

export default class ComputersShow extends ManagerCommand {
  static summary = 'Show one computer: state, certificate, host information, times'
  static examples = ['<%= config.bin %> manager computers show 1', '<%= config.bin %> manager computers show web-01 --json']
  static args = {computer: Args.string({description: 'id, GUID, hostname, display name or address', required: true})}

  async run() {
    const {args} = await this.parse(ComputersShow)
    const store = await this.store()
    const found = await findComputer(store, args.computer)
    const c = {...viewComputer(found, await getSettings(store)), configuration: await configurationState(store, found)}
    this.log(fieldLines([
      ['ID', c.id],
      ['GUID', c.guid],
      ['Hostname', c.hostname],
      ['Display name', c.displayName],
      ['Description', c.description],
      ['Group', c.group],
      ['Policy', c.policy],
      ['State', c.state],
      ['Presence', c.presence],
      ['Communication', c.mode],
      ['Heartbeat', `every ${c.heartbeatIntervalSeconds} s, offline after ${c.missedHeartbeats} missed`],
      ['Address', c.address],
      ['Certificate serial', c.certSerial],
      ['Certificate SHA-256', c.certSha256],
      ['Certificate expires', c.certificate ? `${c.certificate.notAfter} (${c.certificate.daysLeft} days left)` : undefined],
      ['Certificate renewal', c.certificate ? `${c.certificate.standing}${c.certificate.standing === 'ok' ? `, renews at the first contact after ${c.certificate.renewsAt}` : ''}${c.certificate.standing === 'beyond-grace' ? ': reactivate it (dsa_control -r, then -a on the computer)' : ''}` : undefined],
      ['Renewal in progress', c.renewalSha256 ? `certificate ${c.renewalSha256} sent, waiting for the agent to present it` : undefined],
      ['Platform', c.hostInfo ? `${c.hostInfo.platform} ${c.hostInfo.osRelease} ${c.hostInfo.arch}` : undefined],
      ['Agent version', c.hostInfo?.agentVersion],
      ['Classic words', Object.entries(storedClassicWords(c.hostInfo)).map(([k, v]) => `${k}:${v}`).join(' ') || undefined],
      ['Configuration', c.configuration.assigned ? `${c.configuration.assigned} v${c.configuration.desiredVersion ?? '?'}: ${c.configuration.upToDate ? 'up to date' : `applied ${c.configuration.applied.version ?? 'none'} (out of date)`}` : 'no policy'],
      ['Created', c.createdAt],
      ['Activated', c.activatedAt],
      ['Last seen', c.lastSeenAt],
    ]).join('\n'))
    return c
  }
}
