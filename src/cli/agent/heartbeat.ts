import {heartbeatNow} from '../../agent/heartbeat-now.js'
import type {DsaCoreFiles} from '../../agent/store-files.js'
import {parseClassicWords} from '../../agent/words.js'
import {statusLine, withClassicStatus} from '../../compat/status.js'
import type {CommandOutput} from '../command-output.js'
import {passwordOrAsk} from '../prompt.js'

/**
 * What `tether agent heartbeat` (dsa_control -m) prints and returns (its --json document), for the
 * oclif command and the direct path (src/compat/direct.ts) alike, so both print the same bytes. A
 * module of its own, so each command loads only what it needs (a cold start pays for every module).
 */
export async function agentHeartbeatCommand(store: DsaCoreFiles, argv: string[], flags: {password?: string; 'service-retries': number; 'no-contact': boolean}, out: CommandOutput) {
  const words = parseClassicWords(argv, 'heartbeat')
  for (const warning of words.warnings) out.logToStderr(`Warning: ${warning}`)
  return withClassicStatus(out, async () => {
    const {notes, request, heartbeat} = await heartbeatNow(store, words, {
      password: () => passwordOrAsk(flags.password, 'Self-protection password'),
      noContact: flags['no-contact'],
      serviceRetries: flags['service-retries'],
    })
    out.log([statusLine(200), ...notes].join('\n'))
    for (const warning of heartbeat?.warnings ?? []) out.logToStderr(`Warning: ${warning}`)
    return {status: 200, address: heartbeat?.address ?? null, at: heartbeat?.at ?? null, warnings: heartbeat?.warnings ?? [], engineWords: words.engineWords, request: request ?? null, ...(heartbeat?.failedOver ? {failedOver: heartbeat.failedOver} : {})}
  })
}
