import {Flags} from '@oclif/core'

import {replyError, runControl} from '../../agent/control.js'
import {recordEventIn} from '../../agent/database.js'
import {requireUnprotected} from '../../agent/self-protection.js'
import {ENGINE_WORDS, heartbeatRequestOf, parseClassicWords} from '../../agent/words.js'
import {passwordFlag, serviceRetriesFlag} from '../../cli/agent-flags.js'
import {AgentCommand} from '../../cli/base-command.js'
import {passwordOrAsk} from '../../cli/prompt.js'
import {statusLine, withClassicStatus} from '../../compat/status.js'

export default class AgentHeartbeat extends AgentCommand {
  static summary = 'Send a heartbeat to the manager now (same as dsa_control -m)'
  static description = `Through the running agent if there is one, else from this process. The manager reads the agent status and runs the operations queued for it. Words change the computer as the classic manager applies them: policy: (name), policyid: (id), displayname:, description:, group: (/ makes a hierarchy), and the words tether stores without acting on (groupid:, relaygroup:, relaygroupid:, relayid:, externalid:); UpdateConfiguration:true sends the policy now. On-demand words for engines tether does not have (${Object.values(ENGINE_WORDS).map((w) => w.split(':')[0]).join(', ')}) are recorded as an event and answered with a note; exit 0. Prints "HTTP Status: 200 - OK" on success. A computer in manager-initiated mode never opens a connection: refused with 403. Needs the self-protection password (--password) when the policy sets one.`
  static examples = ['<%= config.bin %> agent heartbeat', 'dsa_control -m', 'dsa_control -m "policy:Base Policy" "displayname:web 01"', 'dsa_control -m UpdateConfiguration:true']
  static strict = false
  static flags = {
    password: passwordFlag,
    'service-retries': serviceRetriesFlag,
    'no-contact': Flags.boolean({description: 'only record the on-demand words; do not contact the manager (dsa_control --buildBaseline, --scanForChanges)', hidden: true, default: false}),
  }

  async run() {
    const {argv, flags} = await this.parse(AgentHeartbeat)
    const words = parseClassicWords(argv as string[], 'heartbeat')
    const store = this.dsaCore
    const request = heartbeatRequestOf(words)
    for (const warning of words.warnings) this.logToStderr(`Warning: ${warning}`)
    return withClassicStatus({log: (line) => this.log(line), json: this.jsonEnabled()}, async () => {
      if (!store.exists()) store.ensureDir()
      await requireUnprotected(store, 'dsa_control -m', await passwordOrAsk(flags.password, 'Self-protection password'))
      for (const word of words.engineWords) await recordEventIn(store.dir, 'on-demand-unsupported', {word})
      const notes = words.engineWords.map((word) => `Note: ${ENGINE_WORDS[word.toLowerCase()]}; recorded as an event`)
      if (flags['no-contact']) {
        this.log([statusLine(200), ...notes].join('\n'))
        return {status: 200, address: null, at: null, warnings: [], engineWords: words.engineWords, request: request ?? null}
      }

      const reply = await runControl(store.dir, {op: 'heartbeat', request}, {serviceRetries: flags['service-retries']})
      const failure = replyError(reply)
      if (failure) throw failure
      this.log([statusLine(200), ...notes].join('\n'))
      for (const warning of (reply.ok && reply.heartbeat?.warnings) || []) this.logToStderr(`Warning: ${warning}`)
      const heartbeat = reply.ok ? reply.heartbeat : undefined
      return {status: 200, address: heartbeat?.address ?? null, at: heartbeat?.at ?? null, warnings: heartbeat?.warnings ?? [], engineWords: words.engineWords, request: request ?? null, ...(heartbeat?.failedOver ? {failedOver: heartbeat.failedOver} : {})}
    })
  }
}
