import {Args, Flags} from '@oclif/core'

import {DEFAULT_DSM_RETRIES, DEFAULT_DSM_RETRY_INTERVAL_S} from '../../agent/classic-activation.js'
import {replyError, runControl} from '../../agent/control.js'
import {parseManagerUrl} from '../../agent/outbound.js'
import {parseClassicWords} from '../../agent/words.js'
import {AgentCommand} from '../../cli/base-command.js'
import {valueOrAsk} from '../../cli/prompt.js'
import {statusForFailure, statusLine, withStatusClass} from '../../compat/status.js'
import {TetherError, isTetherError} from '../../errors.js'

export default class AgentActivate extends AgentCommand {
  static summary = 'Ask the manager to activate this agent (agent-initiated; same as dsa_control -a)'
  static description = `The agent connects to the manager's heartbeat port (through the proxy set with dsa_control -x, if any); the manager then activates it over that connection and confirms over mutual TLS, delivering the assigned policy in the same session. Words are key:value in any order, keys case-insensitive: hostname:, displayname:, description:, group: (/ makes a hierarchy), groupid:, policy: (by name), policyid: (by id), tenantID:, token: (or tenantPassword:), relaygroup:, relaygroupid:, relayid:, externalid:; an unknown key is a warning. A failure that may pass (manager unreachable, busy, 5xx) is retried --max-dsm-retries times, --dsm-retry-interval seconds apart; a refusal ends at once. Prints "HTTP Status: <code> - <reason>", then the session (Attempting to connect..., one "Received a 'Name' command from the manager." per command, "Command session completed."); exits 0 only on 200: 400 usage, 401 token, 403 refused (off, bound, already activated, tenant), 409 duplicate, 429 rate-limited, 503 unreachable. Goes through the running agent if there is one, else does it here under the dsa_core lock.`
  static examples = [
    '<%= config.bin %> agent activate dsm://dsm.example.internal:4120/',
    'dsa_control -a dsm://127.0.0.1:4120/ "displayname:web 01" group:Production/Web policy:Base token:s3cret --max-dsm-retries 0',
  ]

  static strict = false
  static args = {url: Args.string({description: 'the manager, dsm://HOST:PORT/ (asked for on a terminal when missing)'})}
  static flags = {
    'max-dsm-retries': Flags.integer({description: 'times to retry a failure that may pass', default: DEFAULT_DSM_RETRIES, min: 0, max: 100}),
    'dsm-retry-interval': Flags.integer({description: 'seconds between retries', default: DEFAULT_DSM_RETRY_INTERVAL_S, min: 1, max: 3600}),
    'service-retries': Flags.integer({description: 'retry reaching the local agent service this many times, 1 s apart (dsa_control -t)', default: 0, min: 0, max: 1000}),
  }

  async run() {
    const {args, argv, flags} = await this.parse(AgentActivate)
    const url = await valueOrAsk(args.url, {what: 'the manager URL (dsm://HOST:PORT/)', message: 'Manager to activate with (dsm://HOST:PORT/)', hint: 'e.g. dsa_control -a dsm://dsm.example.internal:4120/'})
    const words = parseClassicWords((argv as string[]).slice(1), 'activate')
    parseManagerUrl(url)
    for (const warning of words.warnings) this.logToStderr(`Warning: ${warning}`)
    const retries = flags['max-dsm-retries']
    if (retries > 0 && !this.jsonEnabled()) this.log(`Activation will be re-attempted ${retries} time(s) in case of failure`)
    const dsaCore = this.dsaCore.dir
    let transcript: string[] = []
    try {
      const reply = await runControl(dsaCore, {op: 'activate', url, args: words.args, retry: {retries, intervalSeconds: flags['dsm-retry-interval']}}, {serviceRetries: flags['service-retries']})
      transcript = reply.transcript ?? []
      const failure = replyError(reply)
      if (failure) throw failure
      const report = reply.ok ? reply.report! : undefined
      if (!report || report.status !== 200) {
        throw new TetherError('refused', report?.reason || 'activation-refused', report?.message || 'the manager refused the activation', {
          hint: report?.hint,
          details: {httpStatus: report?.status ?? 403},
        })
      }

      this.log([statusLine(200), ...transcript].join('\n'))
      for (const warning of report.warnings ?? []) this.logToStderr(`Warning: ${warning}`)
      this.log('Command session completed.')
      return {status: 200, reason: 'OK', message: report.message, computer: report.computer ?? null, warnings: [...words.warnings, ...(report.warnings ?? [])], transcript, dsaCore}
    } catch (error) {
      if (!isTetherError(error)) throw error
      const status = statusForFailure(error)
      if (!this.jsonEnabled()) this.log([statusLine(status, error.code === 'already-activated' ? 'reset agent first' : undefined), ...transcript].join('\n'))
      throw withStatusClass(error, status)
    }
  }
}
