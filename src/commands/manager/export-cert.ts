import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {EXPORT_FILE_NAME, exportManagerCertificate} from '../../manager/home.js'

export default class ManagerExportCert extends ManagerCommand {
  static summary = `Export the manager certificate for binding agents (${EXPORT_FILE_NAME})`
  static description = `Writes the manager's TLS certificate (PEM), the file an agent is bound with (tether agent bind). The file must be named exactly ${EXPORT_FILE_NAME}. Same as the classic \`dsm_c -action exportdsmcert -output ${EXPORT_FILE_NAME}\`.`
  static examples = [
    `<%= config.bin %> manager export-cert --output ${EXPORT_FILE_NAME}`,
    `dsm_c -action exportdsmcert -output /srv/provision/${EXPORT_FILE_NAME}`,
  ]

  static flags = {
    output: Flags.string({char: 'o', description: `file to write; its name must be ${EXPORT_FILE_NAME}`, required: true, helpValue: 'FILE'}),
  }

  async run() {
    const {flags} = await this.parse(ManagerExportCert)
    const result = await exportManagerCertificate(this.home, flags.output)
    this.log(`Wrote ${result.file} (SHA-256 ${result.certificate.sha256})`)
    return result
  }
}
