import fs from 'node:fs'
import path from 'node:path'

import {TetherError} from '../errors.js'
import {commonName, subjectAltNames} from '../pki/certificate.js'
import {newKek} from '../pki/seal.js'
import {PRIVATE_DIR_MODE, renameDurable} from '../platform/fsutil.js'
import {lockManagerHome} from './daemon-lock.js'
import {HOME_FILES, ManagerHome} from './home.js'
import {sealedEntries} from './installation-secrets.js'
import {keepPreviousIdentity, replaceManagerIdentity} from './manager-identity.js'
import {issueManagerIdentity} from './node-certificate.js'
import {writeNodeFiles} from './node-home.js'
import {defaultNodeName} from './node-init.js'
import {PostgresManagerStore} from './store/postgres.js'
import {TableChecksum, tableChecksum} from './store/registry-copy.js'
import {SqliteManagerStore} from './store/sqlite.js'
import {REGISTRY_TABLES, RegistryRow, RegistryTable} from './store/store.js'

/**
 * `tether manager migrate --to postgres://...`: an embedded registry copied into an empty
 * PostgreSQL database, every table with its ids, verified table by table (rows and checksum), then
 * the home switched to be the installation's first node. Agents notice nothing: the same CA, the
 * same computers and certificates, the same CRL sequence. The manager certificate the agents were
 * bound with becomes the installation's binding identity (every node presents it to a bound agent),
 * and this node gets a certificate of its own; the CA key goes into the database, sealed. The
 * registry file and the CA key file are moved aside in the home (pre-postgres/), not deleted.
 */

export const MOVED_ASIDE = 'pre-postgres'

export interface MigrationResult {
  home: string
  database: string
  node: string
  tables: TableChecksum[]
  movedAside: string
}

export async function migrateToPostgres(home: ManagerHome, url: string, options: {name?: string} = {}): Promise<MigrationResult> {
  if (home.isNode()) throw new TetherError('refused', 'already-on-postgres', `the manager home ${home.dir} is already a node of an installation on PostgreSQL`, {hint: 'nothing to migrate'})
  const lock = await lockManagerHome(home.dir)
  try {
    const credentials = home.loadCredentials()
    const source = await SqliteManagerStore.open(home.file('database'))
    let copied: {tables: TableChecksum[]; managerGuid: string; database: string}
    const name = options.name ?? defaultNodeName()
    const hostnames = subjectAltNames(credentials.managerCert).map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    const node = await issueManagerIdentity({certPem: credentials.caCertPem, keyPem: credentials.caKeyPem}, {commonName: commonName(credentials.managerCert) ?? name}, hostnames)
    const kek = newKek()
    try {
      const target = await PostgresManagerStore.open(url)
      try {
        copied = {...(await copyRegistry(source, target)), database: target.location}
        // The certificate agents were bound with is kept as the binding identity every node presents.
        const secrets = sealedEntries(kek, copied.managerGuid, {caKeyPem: credentials.caKeyPem, binding: {certPem: credentials.managerCertPem, keyPem: credentials.managerKeyPem}})
        if (!(await target.meta.create(secrets))) throw notEmpty(target.location)
        await target.nodes.add({name, hostnames, certificate: node.record}, new Date())
      } finally {
        await target.close()
      }
    } finally {
      await source.close()
    }

    // The switch: the node's files, its own certificate (the old one kept as previous), then the
    // KEK, which makes the home a node's; last, the embedded registry and the CA key move aside.
    writeNodeFiles(home.dir, {kek, databaseUrl: url, identity: {name, managerGuid: copied.managerGuid}})
    replaceManagerIdentity(home.dir, node.keyPem, node.certPem)
    // The certificate replaced is the binding identity now; a previous one stays for agents bound to it.
    if (credentials.previous) keepPreviousIdentity(home.dir, credentials.previous)
    const aside = moveAside(home)
    return {home: home.dir, database: copied.database, node: name, tables: copied.tables, movedAside: aside}
  } finally {
    lock.release()
  }
}

/** Copy every table in one transaction, then read the copy back and compare it table by table. */
async function copyRegistry(source: SqliteManagerStore, target: PostgresManagerStore): Promise<{tables: TableChecksum[]; managerGuid: string}> {
  if (!(await target.registry.isEmpty())) throw notEmpty(target.location)
  const dump = new Map<RegistryTable, RegistryRow[]>()
  for (const table of REGISTRY_TABLES) dump.set(table, await source.registry.dump(table))
  await target.registry.load(dump)
  const tables: TableChecksum[] = []
  for (const table of REGISTRY_TABLES) {
    const expected = tableChecksum(table, dump.get(table)!)
    const found = tableChecksum(table, await target.registry.dump(table))
    if (found.rows !== expected.rows || found.sha256 !== expected.sha256) {
      throw new TetherError('internal', 'migration-not-verified', `the copy of table ${table} in ${target.location} differs from the registry (${found.rows} rows, SHA-256 ${found.sha256}; expected ${expected.rows}, ${expected.sha256})`, {
        hint: 'the manager home is unchanged and still works; drop and re-create the database, then migrate again (report this: it is a bug)',
      })
    }

    tables.push(expected)
  }

  return {tables, managerGuid: String(dump.get('meta')!.find((row) => row.key === 'manager_guid')?.value ?? '')}
}

function moveAside(home: ManagerHome): string {
  const aside = path.join(home.dir, MOVED_ASIDE)
  fs.mkdirSync(aside, {mode: PRIVATE_DIR_MODE, recursive: true})
  fs.chmodSync(aside, PRIVATE_DIR_MODE)
  const database = HOME_FILES.database
  for (const name of [database, `${database}-wal`, `${database}-shm`, HOME_FILES.caKey]) {
    if (fs.existsSync(path.join(home.dir, name))) renameDurable(path.join(home.dir, name), path.join(aside, name))
  }

  return aside
}

function notEmpty(location: string): TetherError {
  return new TetherError('refused', 'database-not-empty', `the database ${location} is not empty; migrate copies only into an empty database`, {
    hint: 'create an empty database (createdb NAME) and give its URL; the manager home is unchanged',
  })
}
