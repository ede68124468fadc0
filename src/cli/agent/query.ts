import {runQuery} from '../../agent/query.js'
import type {DsaCore} from '../../agent/store.js'
import {statusLine} from '../../compat/status.js'
import type {CommandOutput} from '../command-output.js'

/**
 * What `tether agent query` (dsa_query, sendCommand) prints and returns (its --json document), for the
 * oclif command and the direct path (src/compat/direct.ts) alike, so both print the same bytes. A
 * module of its own, so each command loads only what it needs (a cold start pays for every module).
 */
export async function agentQueryCommand(store: DsaCore, args: {command: string; pattern?: string}, flags: {xml: boolean; raw: boolean}, out: CommandOutput) {
  const answer = await runQuery(store, args.command, args.pattern, {xml: flags.xml})
  if ('xml' in answer) {
    out.log(`${statusLine(200)}\nResponse:\n\n${answer.xml}`)
    return answer
  }

  const line = ([name, value]: [string, string]) => (flags.raw ? `${name.slice(name.indexOf('.') + 1)}=${value}` : `${name}: ${value}`)
  if (answer.fields.length > 0) out.log(answer.fields.map(line).join('\n'))
  return {command: answer.command, fields: Object.fromEntries(answer.fields)}
}
