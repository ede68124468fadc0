import fs from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {DsaCore} from '../../agent/store.js'
import {AgentCommand} from '../../cli/base-command.js'
import {valueOrAsk} from '../../cli/prompt.js'
import {TetherError, errnoCode} from '../../errors.js'
import {Platform, currentPlatform, resolveDsaCore} from '../../platform/paths.js'

export default class AgentBind extends AgentCommand {
  static summary = 'Bind an unactivated agent to one manager (place ds_agent_dsm.crt in dsa_core)'
  static description = `Checks the manager certificate (PEM, exactly one certificate, no private key, named ds_agent_dsm.crt, usable as a TLS server certificate, valid now) and places it atomically in the agent's dsa_core. The agent is then pre-activated: only the manager presenting exactly that certificate, and proving its key in the handshake, can activate it. Refused on an activated agent (reset it first). dsa_core: --dsa-core, else $TETHER_DSA_CORE, else /var/opt/ds_agent/dsa_core (Linux) or %ProgramData%\\Trend Micro\\Deep Security Agent\\dsa_core (Windows).`
  static examples = [
    '<%= config.bin %> agent bind ./ds_agent_dsm.crt',
    '<%= config.bin %> agent bind /tmp/ds_agent_dsm.crt --dsa-core /var/opt/ds_agent/dsa_core --json',
  ]

  static args = {
    file: Args.string({description: 'the manager certificate exported by `dsm_c -action exportdsmcert` (asked for on a terminal when missing)'}),
  }

  static flags = {
    platform: Flags.string({description: 'platform whose default dsa_core path applies', options: ['linux', 'windows']}),
  }

  async run() {
    const {args, flags} = await this.parse(AgentBind)
    const platform = (flags.platform as Platform | undefined) ?? currentPlatform()
    const dir = resolveDsaCore(flags['dsa-core'], {platform})
    if (platform !== currentPlatform() && !flags['dsa-core'] && !process.env.TETHER_DSA_CORE) {
      throw new TetherError('usage', 'foreign-platform-path', `the ${platform} dsa_core path ${dir} cannot be written from this ${currentPlatform()} machine`, {
        hint: `run the command on the ${platform} agent, or pass --dsa-core`,
      })
    }

    const file = await valueOrAsk(args.file, {what: 'the binding file (ds_agent_dsm.crt)', message: 'Path of ds_agent_dsm.crt', hint: 'pass the file exported by `dsm_c -action exportdsmcert -output ds_agent_dsm.crt`'})
    let text: string
    try {
      text = fs.readFileSync(file, 'utf8')
    } catch (error) {
      throw new TetherError(errnoCode(error) === 'ENOENT' ? 'notFound' : 'usage', 'binding-file-unreadable', `cannot read ${file} (${errnoCode(error) ?? (error as Error).message})`, {
        hint: 'copy the file exported by `dsm_c -action exportdsmcert -output ds_agent_dsm.crt` to this machine',
      })
    }

    const result = new DsaCore(dir).bind(file, text)
    if (result.previous && result.previous.sha256 !== result.bound.sha256) {
      this.log(`Replaced the binding to ${result.previous.sha256}`)
    }

    this.log(`Agent in ${dir} is pre-activated: bound to manager ${result.bound.subject} (SHA-256 ${result.bound.sha256})`)
    return {state: 'pre-activated', dsaCore: dir, boundManager: result.bound, previous: result.previous ?? null}
  }
}
