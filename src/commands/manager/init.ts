import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'
import {confirmOrRefuse} from '../../cli/prompt.js'
import {fieldLines} from '../../cli/render.js'
import {defaultHostnames, initManagerHome} from '../../manager/home.js'

export default class ManagerInit extends ManagerCommand {
  static summary = 'Create a manager home: its certificate authority, manager certificate and registry'
  static description = `Generates the CA (RSA 3072, SHA-256, 20 years), the manager certificate issued by it (RSA 2048, serverAuth and clientAuth, subject alternative names from --hostname) and the SQLite registry. Private keys are written 0600. An initialized home is never overwritten unless --force is given and confirmed (at the prompt on a terminal, or with --yes).`
  static examples = [
    '<%= config.bin %> manager init --home /var/lib/tether --hostname dsm.example.internal',
    '<%= config.bin %> manager init --force --yes   # re-create: every agent must be re-activated',
  ]

  static flags = {
    hostname: Flags.string({
      description: 'DNS name or IP address for the manager certificate (repeatable; default: this machine\'s hostname, localhost and 127.0.0.1)',
      multiple: true,
    }),
    force: Flags.boolean({description: 're-create an initialized home (replaces the CA)', default: false}),
    yes: yesFlag,
  }

  async run() {
    const {flags} = await this.parse(ManagerInit)
    const {dir} = this.home
    if (flags.force && this.home.looksInitialized()) {
      await confirmOrRefuse(`Re-create the manager home ${dir} (a new CA: every agent must be re-activated)`, {yes: flags.yes, flagHint: '--yes'})
    }

    const home = await initManagerHome(dir, {hostnames: flags.hostname ?? defaultHostnames(), force: flags.force})
    const summary = await home.summary()
    this.log(`Initialized manager home ${summary.home}`)
    this.log(fieldLines([
      ['CA', summary.ca.subject],
      ['Manager certificate', summary.manager.subject],
      ['Names', summary.manager.subjectAltNames],
      ['SHA-256', summary.manager.sha256],
      ['Tenant ID', summary.tenantId],
    ], '  ').join('\n'))
    return summary
  }
}
