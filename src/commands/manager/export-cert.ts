import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {EXPORT_FILE_NAME, PRIMARY_TENANT_NAME, checkOwnTenant, exportManagerCertificate} from '../../manager/home.js'

export default class ManagerExportCert extends ManagerCommand {
  static summary = `Export the manager certificate for binding agents (${EXPORT_FILE_NAME})`
  static description = `Writes the manager's TLS certificate (PEM), the file an agent is bound with (tether agent bind). The file must be named exactly ${EXPORT_FILE_NAME}. Same as the classic \`dsm_c -action exportdsmcert -output ${EXPORT_FILE_NAME}\`.`
  static examples = [
    `<%= config.bin %> manager export-cert --output ${EXPORT_FILE_NAME}`,
    `dsm_c -action exportdsmcert -output /srv/provision/${EXPORT_FILE_NAME}`,
  ]

  static flags = {
    output: Flags.string({char: 'o', description: `file to write; its name must be ${EXPORT_FILE_NAME} (a directory, or a path ending in /, gets ${EXPORT_FILE_NAME} inside it)`, required: true, helpValue: 'FILE'}),
    'tenant-name': Flags.string({description: `the tenant (classic -tenantname): tether has one, ${PRIMARY_TENANT_NAME}; any other is refused`, exclusive: ['tenant-id']}),
    'tenant-id': Flags.string({description: 'the tenant ID (classic -tenantid): this manager\'s own; any other is refused'}),
  }

  async run() {
    const {flags} = await this.parse(ManagerExportCert)
    if (flags['tenant-name'] !== undefined || flags['tenant-id'] !== undefined) {
      checkOwnTenant((await (await this.store()).meta.identity()).tenantId, {name: flags['tenant-name'], id: flags['tenant-id']})
    }

    const result = await exportManagerCertificate(this.home, flags.output)
    this.log(`Wrote ${result.file} (SHA-256 ${result.certificate.sha256})`)
    return result
  }
}
