import fs from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {valueOrAsk} from '../../cli/prompt.js'
import {CountProgress} from '../../cli/progress.js'
import {fieldLines} from '../../cli/render.js'
import {ExitCode, TetherError, errnoCode} from '../../errors.js'
import {BulkResult, activateMany, parseTargets} from '../../manager/bulk.js'
import {activate} from '../../manager/manager-initiated.js'
import {getSettings} from '../../manager/settings.js'

export default class ManagerActivate extends ManagerCommand {
  static summary = 'Activate agents (manager-initiated): issue their certificates and switch them to mutual TLS'
  static description = `Connects to the agent as TLS client presenting the manager certificate, reads its host information, has it generate a key pair and CSR (the private key never leaves the agent), signs the CSR with the manager CA, installs the manager certificate, the CA certificate and the agent certificate, then reconnects over mutual TLS and confirms with GetAgentStatus before recording the computer. Activating an agent this manager already activated changes nothing; an agent activated by another manager, or bound to another, refuses. A computer with the same name follows the duplicateNamePolicy setting.

With --from FILE (one HOST[:PORT] per line, # comments; - for standard input) many agents are activated, --concurrency at a time; one failure does not stop the others. Progress shows on a terminal; otherwise each result is printed as one JSON line, then a summary line. The exit code is 0 only if every host activated; else that of the first failure.`
  static examples = [
    '<%= config.bin %> manager activate 10.0.0.12',
    '<%= config.bin %> manager activate agent1.example.internal:4118 --display-name "web 1" --json',
    '<%= config.bin %> manager activate --from hosts.txt --concurrency 16 > results.jsonl',
  ]

  static args = {target: Args.string({description: 'the agent, HOST[:PORT] (default port 4118)'})}
  static flags = {
    'display-name': Flags.string({description: 'display name recorded for the computer'}),
    description: Flags.string({description: 'description recorded for the computer'}),
    group: Flags.string({description: 'group recorded for the computer'}),
    policy: Flags.string({description: 'policy recorded for the computer'}),
    from: Flags.string({description: 'activate every HOST[:PORT] listed in this file (- for standard input)', helpValue: 'FILE'}),
    concurrency: Flags.integer({description: 'with --from: how many activations at a time', default: 8, min: 1, max: 256}),
  }

  async run() {
    const {args, flags} = await this.parse(ManagerActivate)
    // New computers get the mode the manager is set to (classic agentCommunications).
    const {communicationMode: mode} = await getSettings(await this.store())
    const request = {displayName: flags['display-name'], description: flags.description, group: flags.group, policy: flags.policy, mode}
    if (flags.from !== undefined && args.target) throw new TetherError('usage', 'target-and-from', 'give one agent HOST[:PORT] or --from FILE, not both')
    if (flags.from !== undefined) return this.bulk(flags.from, flags.concurrency, request)
    const target = await valueOrAsk(args.target, {what: 'the agent to activate (HOST[:PORT])', message: 'Agent to activate (HOST[:PORT])', hint: 'e.g. tether manager activate 10.0.0.12, or --from FILE'})
    const result = await activate(await this.manager(), target, request)
    const {computer} = result
    this.log(result.alreadyActivated ? `Already activated by this manager: computer ${computer.id}` : `Activated computer ${computer.id}`)
    this.log(fieldLines([
      ['Hostname', computer.hostname],
      ['GUID', computer.guid],
      ['Address', computer.address],
      ['Certificate SHA-256', computer.certSha256],
    ], '  ').join('\n'))
    return result
  }

  private async bulk(from: string, concurrency: number, request: Record<string, string | undefined>) {
    let text: string
    try {
      text = fs.readFileSync(from === '-' ? 0 : from, 'utf8')
    } catch (error) {
      throw new TetherError('notFound', 'hosts-file-unreadable', `cannot read ${from} (${errnoCode(error) ?? (error as Error).message})`)
    }

    const targets = parseTargets(text)
    if (targets.length === 0) throw new TetherError('usage', 'no-targets', `${from} lists no hosts`, {hint: 'one HOST[:PORT] per line'})
    const json = this.jsonEnabled()
    const progress = new CountProgress('Activating', targets.length, json)
    const {results, summary} = await activateMany(await this.manager(), targets, {
      concurrency,
      request,
      onResult: (result: BulkResult) => {
        progress.record(result.ok, `${result.target}: ${result.error?.message}`)
        // Off a terminal, each result is a JSON line a script can read as it comes.
        if (!progress.drawing && !json) this.jsonLine(result)
      },
    })
    progress.end()
    if (progress.drawing) this.log(`${summary.activated} activated, ${summary.alreadyActivated} already activated, ${summary.failed} failed (of ${summary.total})`)
    else if (!json) this.jsonLine({summary})

    const firstFailure = results.find((r) => !r.ok)
    if (firstFailure) process.exitCode = Number(firstFailure.error?.exitCode ?? ExitCode.internal)
    return json ? {results, summary} : undefined
  }
}
