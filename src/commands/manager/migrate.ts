import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'
import {confirmOrRefuse} from '../../cli/prompt.js'
import {fieldLines} from '../../cli/render.js'
import {TetherError} from '../../errors.js'
import {MOVED_ASIDE, migrateToPostgres} from '../../manager/migrate.js'
import {isDatabaseUrl} from '../../manager/store/open.js'

export default class ManagerMigrate extends ManagerCommand {
  static summary = 'Move an embedded registry to an empty PostgreSQL database; the home becomes its first node'
  static description = `Copies every table (computers, certificates, revocations and published CRLs, tokens, policies, queued operations, events, settings, identity, handshake journal) with the same ids in one transaction, reads the copy back and compares each table's row count and SHA-256, and refuses a database that is not empty. Then the home becomes the installation's first node: the CA key goes into the database sealed under a new key-encryption key (kek.key, 0600), the URL into database.url (0600), the manager certificate agents were bound with becomes the binding identity every node presents, and this node gets a certificate of its own from the same CA. The registry file and the CA key file move to ${MOVED_ASIDE}/ in the home. Agents notice nothing. Stop the manager first.`
  static examples = ['<%= config.bin %> manager migrate --to postgres://tether:PASSWORD@db.example.internal/tether --name dsm1 --yes']

  static flags = {
    to: Flags.string({description: 'the empty PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE', required: true, helpValue: 'URL'}),
    name: Flags.string({description: 'this node\'s name among the installation\'s nodes (default: this machine\'s hostname)'}),
    yes: yesFlag,
  }

  async run() {
    const {flags} = await this.parse(ManagerMigrate)
    if (!isDatabaseUrl(flags.to)) throw new TetherError('usage', 'bad-database-url', '--to must be a postgres:// or postgresql:// URL', {hint: 'write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE'})
    await confirmOrRefuse(`Move the registry of ${this.home.dir} to PostgreSQL and make the home a node`, {yes: flags.yes, flagHint: '--yes'})
    const result = await migrateToPostgres(this.home, flags.to, {name: flags.name})
    this.log(`Migrated ${result.home} to ${result.database}; it is now node ${result.node}`)
    for (const table of result.tables) this.log(`  ${table.table.padEnd(12)} ${String(table.rows).padStart(8)} rows  SHA-256 ${table.sha256}`)
    this.log(fieldLines([['Moved aside', `${result.movedAside} (the embedded registry and the CA key file; remove them once the node runs)`]], '  ').join('\n'))
    return result
  }
}
