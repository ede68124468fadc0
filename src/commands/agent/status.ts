import {proxyView, readProxySettings} from '../../agent/proxy-settings.js'
import {selfProtectionStatus} from '../../agent/self-protection.js'
import {AgentCommand} from '../../cli/base-command.js'
import {fieldLines} from '../../cli/render.js'

export default class AgentStatus extends AgentCommand {
  static summary = 'Show the agent state: unactivated, pre-activated (bound) or activated'
  static description = 'The certificate hash is that of the certificate the agent presents now: the shipped bootstrap certificate until activation (scripts test for it; it is tether\'s own, not the classic product\'s), the CA-issued agent certificate after. Also shows the proxy settings (never a password) and self-protection.'
  static examples = ['<%= config.bin %> agent status', '<%= config.bin %> agent status --json | jq -r .state']

  async run() {
    await this.parse(AgentStatus)
    const store = this.dsaCore
    const status = store.status()
    const proxy = proxyView(readProxySettings(store))
    const selfProtection = selfProtectionStatus(store)
    const bound = status.boundManager
    this.log(fieldLines([
      ['State', status.state === 'pre-activated' && bound ? `pre-activated (bound to ${bound.sha256})` : status.state],
      ['dsa_core', status.dsaCore],
      ['Certificate', status.certificateHash.bootstrap ? 'bootstrap (shipped, authenticates nothing)' : status.agentCertificate?.subject],
      ['Certificate SHA-1', status.certificateHash.sha1],
      ['Certificate SHA-256', status.certificateHash.sha256],
      ['Manager', status.manager ? `${status.manager.subject} (SHA-256 ${status.manager.sha256})` : undefined],
      ['Agent certificate expires', status.agentCertificate ? `${status.agentCertificate.notAfter}${status.renewal ? ` (${status.renewal.daysLeft} days left)` : ''}` : undefined],
      ['Agent certificate renews', status.renewal ? `at the first contact after ${status.renewal.renewsAt}` : undefined],
      ['Configuration', status.configuration ? `${status.configuration.policy} version ${status.configuration.version}, SHA-256 ${status.configuration.sha256} (applied ${status.configuration.appliedAt})` : status.state === 'activated' ? 'none applied' : undefined],
      ['Manager proxy', proxy.managerProxy ? `${proxy.managerProxy}${proxy.managerProxyUser ? ` (user ${proxy.managerProxyUser})` : ''}` : undefined],
      ['Relay proxy', proxy.relayProxy ? `${proxy.relayProxy} (stored; tether has no relays)` : undefined],
      ['Self-protection', selfProtection.protecting ? 'on (the policy sets a password)' : selfProtection.passwordSet ? 'off (turned off locally)' : undefined],
    ]).join('\n'))
    return {...status, proxy, selfProtection}
  }
}
