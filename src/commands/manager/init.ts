import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'
import {confirmOrRefuse} from '../../cli/prompt.js'
import {fieldLines} from '../../cli/render.js'
import {defaultHostnames, initManagerHome} from '../../manager/home.js'
import {DATABASE_URL_ENV} from '../../manager/node-home.js'
import {initNodeHome} from '../../manager/node-init.js'
import {isDatabaseUrl} from '../../manager/store/open.js'
import {TetherError} from '../../errors.js'

export default class ManagerInit extends ManagerCommand {
  static summary = 'Create a manager home: its certificate authority, manager certificate and registry'
  static description = `Generates the CA (RSA 3072, SHA-256, 20 years), the manager certificate issued by it (RSA 2048, serverAuth and clientAuth, subject alternative names from --hostname) and the SQLite registry. Private keys are written 0600. An initialized home is never overwritten unless --force is given and confirmed (at the prompt on a terminal, or with --yes).

With --database postgres://... (or $${DATABASE_URL_ENV}) the registry is that shared PostgreSQL database (it must be empty) and this home is the installation's first node: the database gets the schema, the CA key and the binding identity sealed under a new key-encryption key (kek.key, 0600 in the home), and the node; the home keeps the node's own key and certificate, the CA certificate and the URL (database.url, 0600; not written when the URL came from $${DATABASE_URL_ENV}). Add nodes with \`tether manager nodes invite\` and \`tether manager join\`.`
  static examples = [
    '<%= config.bin %> manager init --home /var/lib/tether --hostname dsm.example.internal',
    '<%= config.bin %> manager init --force --yes   # re-create: every agent must be re-activated',
    'TETHER_DATABASE_URL=postgres://tether:PASSWORD@db.example.internal/tether <%= config.bin %> manager init --home /var/lib/tether --hostname dsm1.example.internal --name dsm1',
  ]

  static flags = {
    hostname: Flags.string({
      description: 'DNS name or IP address for the manager certificate (repeatable; default: this machine\'s hostname, localhost and 127.0.0.1)',
      multiple: true,
    }),
    force: Flags.boolean({description: 're-create an initialized home (replaces the CA)', default: false}),
    yes: yesFlag,
    database: Flags.string({description: `a shared PostgreSQL registry: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, empty (default: $${DATABASE_URL_ENV}; without either, the embedded SQLite registry)`, helpValue: 'URL'}),
    name: Flags.string({description: 'this node\'s name among the installation\'s nodes (with --database; default: this machine\'s hostname)'}),
  }

  async run() {
    const {flags} = await this.parse(ManagerInit)
    const {dir} = this.home
    if (flags.force && this.home.looksInitialized()) {
      await confirmOrRefuse(`Re-create the manager home ${dir} (a new CA: every agent must be re-activated)`, {yes: flags.yes, flagHint: '--yes'})
    }

    const database = flags.database ?? process.env[DATABASE_URL_ENV]
    if (database !== undefined && !isDatabaseUrl(database)) {
      throw new TetherError('usage', 'bad-database-url', 'the database must be a postgres:// or postgresql:// URL', {hint: 'write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE (or leave it out for the embedded registry)'})
    }

    if (database !== undefined && flags.force) throw new TetherError('usage', 'force-with-database', '--force re-creates an embedded home; a node of a shared database is not re-created', {hint: 'give an empty database (and a new home) for a new installation'})
    const hostnames = flags.hostname ?? defaultHostnames()
    const home = database === undefined
      ? await initManagerHome(dir, {hostnames, force: flags.force})
      : await initNodeHome(dir, {hostnames, database, writeUrl: flags.database !== undefined, name: flags.name})
    const summary = await home.summary()
    this.log(`Initialized manager home ${summary.home}`)
    this.log(fieldLines([
      ['Database', summary.database],
      ['Node', summary.node],
      ['CA', summary.ca.subject],
      ['Manager certificate', summary.manager.subject],
      ['Names', summary.manager.subjectAltNames],
      ['SHA-256', summary.manager.sha256],
      ['Tenant ID', summary.tenantId],
    ], '  ').join('\n'))
    return summary
  }
}
