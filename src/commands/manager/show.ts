import {ManagerCommand} from '../../cli/base-command.js'
import {fieldLines} from '../../cli/render.js'
import {postureWarnings} from '../../manager/posture.js'
import {CertificateSummary} from '../../pki/certificate.js'

const certificateLines = (summary: CertificateSummary) =>
  fieldLines([
    ['Subject', summary.subject],
    ['Issuer', summary.issuer],
    ['Valid', `${summary.notBefore} to ${summary.notAfter}`],
    ['Names', summary.subjectAltNames],
    ['Serial', summary.serial],
    ['SHA-256', summary.sha256],
  ], '  ')

export default class ManagerShow extends ManagerCommand {
  static summary = 'Show the manager home: CA and manager certificates (current and previous), tenant ID, registry'
  static examples = ['<%= config.bin %> manager show', '<%= config.bin %> manager show --json | jq -r .manager.sha256']

  async run() {
    await this.parse(ManagerShow)
    const summary = await this.home.summary()
    const warnings = await postureWarnings(await this.storeContext())
    this.warnAbout(warnings)
    this.log(fieldLines([
      ['Home', summary.home],
      ['Database', summary.database],
      ['Node', summary.node],
      ['Manager GUID', summary.managerGuid],
      ['Tenant ID', summary.tenantId],
      ['Computers', summary.computers],
      ['Schema', summary.schemaVersion],
    ]).join('\n'))
    this.log('CA certificate')
    this.log(certificateLines(summary.ca).join('\n'))
    this.log('Manager certificate')
    this.log(certificateLines(summary.manager).join('\n'))
    if (summary.previousManager) {
      this.log('Previous manager certificate (still presented to agents bound to it, until it expires)')
      this.log(certificateLines(summary.previousManager).join('\n'))
    }

    return {...summary, warnings}
  }
}
