import {agentStatusReport} from '../../agent/status-report.js'
import type {DsaCore} from '../../agent/store.js'
import type {CommandOutput} from '../command-output.js'
import {fieldLines} from '../render.js'

/**
 * What `tether agent status` prints and returns (its --json document), for the oclif command and
 * the direct path (src/compat/direct.ts) alike, so both print the same bytes. A module of its own,
 * so each command loads only what it needs (a cold start pays for every module).
 */
export function agentStatusCommand(store: DsaCore, out: CommandOutput) {
  const report = agentStatusReport(store)
  const {proxy, selfProtection, ...status} = report
  const bound = status.boundManager
  out.log(fieldLines([
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
  return report
}
