import {agentStatusReport, heartbeatNow, resetLocalAgent} from '../agent/actions.js'
import type {DsaCore} from '../agent/store.js'
import {parseClassicWords} from '../agent/words.js'
import {statusLine, withClassicStatus} from '../compat/status.js'
import {confirmOrRefuse, passwordOrAsk} from './prompt.js'
import {fieldLines} from './render.js'

/**
 * What `tether agent reset|heartbeat|query|status` print and return (the --json document), for
 * the oclif commands and the classic tools' direct path alike, so both print the same bytes.
 * Output goes through `out`, which drops human lines under --json as the commands' log does.
 */

export interface CommandOutput {
  log(line: string): void
  logToStderr(line: string): void
  json: boolean
}

export async function agentResetCommand(store: DsaCore, flags: {yes: boolean; unbind: boolean; password?: string}, out: CommandOutput) {
  return withClassicStatus(out, async () => {
    const result = await resetLocalAgent(store, {
      unbind: flags.unbind,
      password: () => passwordOrAsk(flags.password, 'Self-protection password'),
      confirm: (what) => confirmOrRefuse(what, {yes: flags.yes, flagHint: '--yes'}),
    })
    out.log('HTTP Status: 200 - OK')
    out.log(result.removed.length > 0 ? `Agent reset (was ${result.previousState}); removed ${result.removed.join(', ')}` : 'Agent was already reset; nothing to remove')
    return {state: 'unactivated', dsaCore: store.dir, previousState: result.previousState, removed: result.removed}
  })
}

export async function agentHeartbeatCommand(store: DsaCore, argv: string[], flags: {password?: string; 'service-retries': number; 'no-contact': boolean}, out: CommandOutput) {
  const words = parseClassicWords(argv, 'heartbeat')
  for (const warning of words.warnings) out.logToStderr(`Warning: ${warning}`)
  return withClassicStatus(out, async () => {
    const {notes, request, heartbeat} = await heartbeatNow(store, words, {
      password: () => passwordOrAsk(flags.password, 'Self-protection password'),
      noContact: flags['no-contact'],
      serviceRetries: flags['service-retries'],
    })
    out.log([statusLine(200), ...notes].join('\n'))
    if (flags['no-contact']) return {status: 200, address: null, at: null, warnings: [], engineWords: words.engineWords, request: request ?? null}
    for (const warning of heartbeat?.warnings ?? []) out.logToStderr(`Warning: ${warning}`)
    return {status: 200, address: heartbeat?.address ?? null, at: heartbeat?.at ?? null, warnings: heartbeat?.warnings ?? [], engineWords: words.engineWords, request: request ?? null, ...(heartbeat?.failedOver ? {failedOver: heartbeat.failedOver} : {})}
  })
}

export async function agentQueryCommand(store: DsaCore, args: {command: string; pattern?: string}, flags: {xml: boolean; raw: boolean}, out: CommandOutput) {
  // Lazy: the query's modules (address parsing with TLS, the journal) load only for a query.
  const {runQuery} = await import('../agent/query.js')
  const answer = await runQuery(store, args.command, args.pattern, {xml: flags.xml})
  if ('xml' in answer) {
    out.log(`${statusLine(200)}\nResponse:\n\n${answer.xml}`)
    return answer
  }

  const line = ([name, value]: [string, string]) => (flags.raw ? `${name.slice(name.indexOf('.') + 1)}=${value}` : `${name}: ${value}`)
  if (answer.fields.length > 0) out.log(answer.fields.map(line).join('\n'))
  return {command: answer.command, fields: Object.fromEntries(answer.fields)}
}

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
