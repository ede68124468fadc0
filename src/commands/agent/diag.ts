import {writeDiagnosticPackage} from '../../agent/diagnostics.js'
import {requireUnprotected} from '../../agent/self-protection.js'
import {passwordFlag} from '../../cli/agent-flags.js'
import {AgentCommand} from '../../cli/base-command.js'
import {passwordOrAsk} from '../../cli/prompt.js'
import {withClassicStatus} from '../../compat/status.js'

export default class AgentDiag extends AgentCommand {
  static summary = 'Write a diagnostic package (zip) into the diag directory beside dsa_core (dsa_control -d)'
  static description = 'The package holds the status, settings (no passwords), the recent handshake journal and pending events, the public certificates, versions and the daemon\'s recent log lines (ds_agent.log in dsa_core). Never a private key, token or proxy password. Written to /var/opt/ds_agent/diag on Linux (the directory beside dsa_core), owner-only. Needs the self-protection password when the policy sets one.'
  static examples = ['dsa_control -d', '<%= config.bin %> agent diag --json']
  static flags = {password: passwordFlag}

  async run() {
    const {flags} = await this.parse(AgentDiag)
    const store = this.dsaCore
    return withClassicStatus(this.output, async () => {
      await requireUnprotected(store, 'dsa_control -d', await passwordOrAsk(flags.password, 'Self-protection password'))
      const written = await writeDiagnosticPackage(store)
      this.log(`path = ${written.dir}\nfile name = ${written.file}`)
      return {path: written.dir, fileName: written.file, entries: written.entries}
    })
  }
}
