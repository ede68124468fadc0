import http from 'node:http'

import {Args} from '@oclif/core'

import {replyError, runControl} from '../../agent/control.js'
import {parseActivationArgs, parseManagerUrl} from '../../agent/outbound.js'
import {AgentCommand} from '../../cli/base-command.js'
import {valueOrAsk} from '../../cli/prompt.js'
import {TetherError, isTetherError} from '../../errors.js'
import {httpStatusFor} from '../../protocol/messages.js'

/** `HTTP Status: 200 - OK`, the line provisioning scripts look for. */
function statusLine(status: number): string {
  return `HTTP Status: ${status} - ${http.STATUS_CODES[status] ?? 'Unknown'}`
}

export default class AgentActivate extends AgentCommand {
  static summary = 'Ask the manager to activate this agent (agent-initiated; same as dsa_control -a)'
  static description = `The agent connects to the manager's heartbeat port; the manager then activates it over that connection exactly as in manager-initiated activation and confirms over mutual TLS. Arguments are key:value in any order: hostname:, displayname:, description:, group:, policyid:, tenantID:, token: (values may contain spaces and any script). Goes through the running agent if there is one (local control socket in dsa_core), else does it here under the dsa_core lock. Prints "HTTP Status: <code> - <reason>" (200 on success) and exits 0 only on success. A pre-activated (bound) agent refuses by design; an activated one must be reset first.`
  static examples = [
    '<%= config.bin %> agent activate dsm://dsm.example.internal:4120/',
    'dsa_control -a dsm://127.0.0.1:4120/ "displayname:web 01" group:Production policyid:4 token:s3cret',
  ]

  static strict = false
  static args = {url: Args.string({description: 'the manager, dsm://HOST:PORT/ (asked for on a terminal when missing)'})}

  async run() {
    const {args, argv} = await this.parse(AgentActivate)
    const url = await valueOrAsk(args.url, {what: 'the manager URL (dsm://HOST:PORT/)', message: 'Manager to activate with (dsm://HOST:PORT/)', hint: 'e.g. dsa_control -a dsm://dsm.example.internal:4120/'})
    const activationArgs = parseActivationArgs((argv as string[]).slice(1))
    parseManagerUrl(url)
    const dsaCore = this.dsaCore.dir
    try {
      const reply = await runControl(dsaCore, {op: 'activate', url, args: activationArgs})
      const failure = replyError(reply)
      if (failure) throw failure
      const report = reply.ok ? reply.report! : undefined
      if (!report || report.status !== 200) {
        throw new TetherError('refused', report?.reason || 'activation-refused', report?.message || 'the manager refused the activation', {
          hint: report?.hint,
          details: {httpStatus: report?.status ?? 403},
        })
      }

      this.log(statusLine(200))
      return {status: 200, reason: 'OK', message: report.message, computer: report.computer ?? null, dsaCore}
    } catch (error) {
      if (isTetherError(error) && !this.jsonEnabled()) {
        const status = Number(error.details?.httpStatus) || httpStatusFor(error.failure)
        this.log(statusLine(status))
      }

      throw error
    }
  }
}
