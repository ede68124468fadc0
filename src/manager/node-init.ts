import os from 'node:os'

import {TetherError} from '../errors.js'
import {newKek} from '../pki/seal.js'
import {PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, writeFileAtomic} from '../platform/fsutil.js'
import {newGuid} from './guid.js'
import {ManagerHome, createCa, stageHome} from './home.js'
import {sealedEntries} from './installation-secrets.js'
import {issueManagerIdentity} from './node-certificate.js'
import {writeNodeFiles} from './node-home.js'
import {PostgresManagerStore} from './store/postgres.js'

/**
 * `tether manager init --database postgres://...`: a new installation whose registry is a shared
 * PostgreSQL database, and its first node. The database gets the schema, the installation's
 * identity, its CA key and binding identity sealed under a new key-encryption key, and the node;
 * the home gets the node's own key and certificate, the CA certificate, the KEK and the URL.
 */

export interface NodeInitOptions {
  hostnames: string[]
  /** The database URL (with any password; it never appears in a message). */
  database: string
  /** Write the URL to the home (false: it came from $TETHER_DATABASE_URL and stays there). */
  writeUrl: boolean
  /** This node's name (default: this machine's hostname). */
  name?: string
  organization?: string
}

export function defaultNodeName(): string {
  return os.hostname() || 'node-1'
}

export async function initNodeHome(dir: string, options: NodeInitOptions): Promise<ManagerHome> {
  return stageHome(dir, false, async (staging) => {
    const store = await PostgresManagerStore.open(options.database)
    try {
      if (!(await store.registry.isEmpty())) throw notEmpty(store.location)
      const managerGuid = newGuid()
      const ca = await createCa(managerGuid, options.organization)
      const [node, binding] = await Promise.all([
        issueManagerIdentity(ca, {commonName: options.hostnames[0], organization: options.organization}, options.hostnames),
        // Presented by every node to agents bound to the installation: no node's name in it.
        issueManagerIdentity(ca, {commonName: `tether binding ${managerGuid.slice(0, 8)}`, organization: options.organization}, []),
      ])
      const kek = newKek()
      const identity = {manager_guid: managerGuid, tenant_id: newGuid(), created_at: new Date().toISOString()}
      if (!(await store.meta.create({...identity, ...sealedEntries(kek, managerGuid, {caKeyPem: ca.keyPem, binding: {certPem: binding.certPem, keyPem: binding.keyPem}})}))) throw notEmpty(store.location)
      const name = options.name ?? defaultNodeName()
      await store.nodes.add({name, hostnames: options.hostnames, certificate: node.record}, new Date())
      writeFileAtomic(staging.file('caCert'), ca.certPem, PUBLIC_FILE_MODE)
      writeFileAtomic(staging.file('managerKey'), node.keyPem, PRIVATE_FILE_MODE)
      writeFileAtomic(staging.file('managerCert'), node.certPem, PUBLIC_FILE_MODE)
      writeNodeFiles(staging.dir, {kek, databaseUrl: options.writeUrl ? options.database : undefined, identity: {name, managerGuid}})
    } finally {
      await store.close()
    }
  })
}

function notEmpty(location: string): TetherError {
  return new TetherError('refused', 'database-not-empty', `the database ${location} already holds a tether registry (or other rows); nothing was written to it`, {
    hint: 'to add a node to that installation: `tether manager nodes invite` on one of its nodes, then `tether manager join` here; for a new installation, give an empty database',
  })
}
