import {Flags} from '@oclif/core'

import {changeProxySettings, proxyView, readProxySettings} from '../../agent/proxy-settings.js'
import {requireUnprotected} from '../../agent/self-protection.js'
import {passwordFlag} from '../../cli/agent-flags.js'
import {AgentCommand} from '../../cli/base-command.js'
import {passwordOrAsk} from '../../cli/prompt.js'
import {fieldLines} from '../../cli/render.js'
import {statusLine, withClassicStatus} from '../../compat/status.js'

export default class AgentProxy extends AgentCommand {
  static summary = 'Show or set the proxy the agent reaches its manager through (dsa_control -x, -u, -y, -w)'
  static description = 'Every agent-to-manager connection (activation, heartbeats) goes through the HTTP CONNECT proxy set with --manager dsm_proxy://HOST:PORT/ (IPv6 in brackets; "" removes it), with Basic credentials from --manager-auth USER:PASSWORD ("" clears them). The relay proxy (--relay relay_proxy://HOST:PORT/, --relay-auth) is stored and shown only: tether has no relays. Settings are kept in dsa_core (owner-only, 0600) and survive a reset; passwords are never printed. Changing credentials (-u, -w) needs the self-protection password when the policy sets one; -x and -y never do.'
  static examples = [
    'dsa_control -x dsm_proxy://proxy.example.internal:3128/',
    'dsa_control -u proxyuser:secret',
    '<%= config.bin %> agent proxy --manager ""',
    '<%= config.bin %> agent proxy --json',
  ]

  static flags = {
    manager: Flags.string({description: 'proxy for the manager: dsm_proxy://HOST:PORT/, "" removes it', helpValue: 'URL'}),
    'manager-auth': Flags.string({description: 'its credentials USER:PASSWORD (Basic), "" clears them', helpValue: 'USER:PASSWORD'}),
    relay: Flags.string({description: 'proxy for relays: relay_proxy://HOST:PORT/ (stored; tether has no relays)', helpValue: 'URL'}),
    'relay-auth': Flags.string({description: 'its credentials USER:PASSWORD (stored)', helpValue: 'USER:PASSWORD'}),
    password: passwordFlag,
  }

  async run() {
    const {flags} = await this.parse(AgentProxy)
    const store = this.dsaCore
    return withClassicStatus(this.output, async () => {
      const changing = [flags.manager, flags['manager-auth'], flags.relay, flags['relay-auth']].some((v) => v !== undefined)
      if (flags['manager-auth'] !== undefined || flags['relay-auth'] !== undefined) {
        await requireUnprotected(store, flags['manager-auth'] === undefined ? 'dsa_control -w' : 'dsa_control -u', await passwordOrAsk(flags.password, 'Self-protection password'))
      }

      if (changing) store.ensureDir()
      const settings = changing
        ? changeProxySettings(store, {dsmProxy: flags.manager, dsmProxyAuth: flags['manager-auth'], relayProxy: flags.relay, relayProxyAuth: flags['relay-auth']})
        : readProxySettings(store)
      const view = proxyView(settings)
      this.log([
        ...(changing ? [statusLine(200)] : []),
        ...fieldLines([
          ['Manager proxy', view.managerProxy ?? 'none'],
          ['Manager proxy user', view.managerProxyUser ?? undefined],
          ['Relay proxy', view.relayProxy ? `${view.relayProxy} (stored; tether has no relays)` : undefined],
          ['Relay proxy user', view.relayProxyUser ?? undefined],
        ]),
      ].join('\n'))
      return {dsaCore: store.dir, ...view}
    })
  }
}
