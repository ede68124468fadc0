import type crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {TetherError, errnoCode} from '../errors.js'
import {CertificateSummary, issuedBy, parseCertificate, summarize} from '../pki/certificate.js'
import {CA_KEY_BITS, LEAF_KEY_BITS, generateRsaKeyPair, keyMatchesCertificate, loadPrivateKey} from '../pki/keys.js'
import {PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, readHeadIfExists, readIfExists, writeFileAtomic} from '../platform/fsutil.js'
import {Logger, silentLogger} from '../platform/log.js'
import {checkPrivateDirectory} from '../platform/private-dir.js'
import {ManagerContext, systemClock} from './context.js'
import type {NameSpec} from '../pki/x509.js'
import {previousIdentity, recoverIdentityChange} from './manager-identity.js'
import type {CaRotationView, ManagerCredentials, NodeCredentials} from './credentials.js'
import {ROTATION_FILES, readRotation, readRotationFile} from './ca-rotation-files.js'

export type {ManagerCredentials} from './credentials.js'
import {newGuid} from './guid.js'
import {NODE_FILES, isNodeHome, nodeDatabaseUrl, readKek, readNodeIdentity} from './node-home.js'
import type {ManagerStore} from './store/store.js'

/** The manager home: its CA, its own certificate, and the registry. */

export const HOME_FILES = {
  caKey: 'ca.key',
  caCert: 'ca.crt',
  managerKey: 'manager.key',
  managerCert: 'manager.crt',
  database: 'tether.db',
} as const

// Lazy: only a node (a home on PostgreSQL) reads the installation's secrets (and the sealing code).
const installationSecrets = () => import('./installation-secrets.js')


export interface InitOptions {
  hostnames: string[]
  /** Replace an initialized home (the caller has already confirmed). */
  force?: boolean
  organization?: string
}

export interface ManagerSummary {
  home: string
  /** On PostgreSQL only: the database (without its password) and this node's name. */
  database?: string
  node?: string
  managerGuid: string
  tenantId: string
  schemaVersion: number
  ca: CertificateSummary
  manager: CertificateSummary
  /** The certificate it replaced, kept for agents bound to it (until it expires). */
  previousManager: CertificateSummary | null
  computers: number
}

export class ManagerHome {
  constructor(readonly dir: string) {}

  file(name: keyof typeof HOME_FILES): string {
    return path.join(this.dir, HOME_FILES[name])
  }

  /** True when any piece of a manager home is present (so init must not overwrite it silently). */
  looksInitialized(): boolean {
    return [...Object.values(HOME_FILES), ...Object.values(NODE_FILES)].some((name) => fs.existsSync(path.join(this.dir, name)))
  }

  /** A node of an installation on PostgreSQL (its CA key and registry are in the database), not an embedded home. */
  isNode(): boolean {
    return isNodeHome(this.dir)
  }

  /** The node's name on PostgreSQL; undefined for an embedded home. */
  nodeName(): string | undefined {
    return this.isNode() ? readNodeIdentity(this.dir).name : undefined
  }

  /** `headOnly`: that it is there and readable, its first byte only (the database can be hundreds of MB). */
  private readRequired(name: keyof typeof HOME_FILES, options: {headOnly?: boolean} = {}): Buffer {
    let content: Buffer | undefined
    try {
      content = options.headOnly ? readHeadIfExists(this.file(name), 1) : readIfExists(this.file(name))
    } catch (error) {
      throw new TetherError('internal', 'home-unreadable', `cannot read ${this.file(name)}: ${(error as Error).message}`, {
        hint: 'run tether as the user that owns the manager home',
      })
    }

    if (content === undefined) {
      const anything = this.looksInitialized()
      throw new TetherError(
        'notFound',
        anything ? 'home-incomplete' : 'home-not-initialized',
        anything
          ? `the manager home ${this.dir} is incomplete: ${HOME_FILES[name]} is missing`
          : `no manager home at ${this.dir} (${HOME_FILES[name]} not found)`,
        {
          hint: anything
            ? 'restore it from a backup, or re-create it with `tether manager init --force --yes`'
            : 'run `tether manager init` first, or point --home / $TETHER_MANAGER_HOME at an existing home',
        },
      )
    }

    return content
  }

  /**
   * Load and cross-check the CA and manager credentials: every file parses, each key matches its
   * certificate, and the manager certificate is signed by the CA. An embedded home only: a node's
   * CA key is in the database (`credentials`).
   */
  loadCredentials(): ManagerCredentials {
    if (this.isNode()) {
      throw new TetherError('internal', 'ca-key-in-database', `the manager home ${this.dir} is a node of an installation on PostgreSQL: its CA key is sealed in the database`, {
        hint: 'this operation is for a home with the embedded registry',
      })
    }

    const node = this.loadNodeCredentials()
    const key = (pem: string, name: string, cert: crypto.X509Certificate, certName: string) => {
      const loaded = this.keyIn(pem, name)
      if (!keyMatchesCertificate(loaded, cert)) throw this.damaged(`${name} does not belong to ${certName}`)
      return loaded
    }

    const stored = readRotation(this.dir)
    const nextKeyPem = stored ? readRotationFile(this.dir, 'nextKey') : undefined
    const currentKeyPem = this.readRequired('caKey').toString('utf8')
    if (!node.rotation) {
      // No rotation, or a retire finishing: the one CA, from ca-next.* while its certificate is there.
      const fromNext = stored?.phase === 'retiring' && readRotationFile(this.dir, 'nextCert') !== undefined && nextKeyPem !== undefined
      const caKeyPem = fromNext ? nextKeyPem! : currentKeyPem
      const caKey = key(caKeyPem, fromNext ? ROTATION_FILES.nextKey : HOME_FILES.caKey, node.caCert, fromNext ? ROTATION_FILES.nextCert : HOME_FILES.caCert)
      return {...node, caKey, caKeyPem, crlSigners: [{cert: node.caCert, key: caKey}]}
    }

    if (nextKeyPem === undefined) throw this.damaged(`${ROTATION_FILES.nextKey} is missing while a CA rotation is ${node.rotation.phase}`)
    const currentKey = key(currentKeyPem, HOME_FILES.caKey, node.rotation.current, HOME_FILES.caCert)
    const nextKey = key(nextKeyPem, ROTATION_FILES.nextKey, node.rotation.next, ROTATION_FILES.nextCert)
    const issuing = node.rotation.phase === 'active' ? {key: nextKey, pem: nextKeyPem} : {key: currentKey, pem: currentKeyPem}
    const other = node.rotation.phase === 'active' ? {cert: node.rotation.current, key: currentKey} : {cert: node.rotation.next, key: nextKey}
    return {...node, caKey: issuing.key, caKeyPem: issuing.pem, crlSigners: [{cert: node.caCert, key: issuing.key}, other]}
  }

  /** Credentials for work that signs or issues: from the files, and on a node the CA key and binding identity from the database. */
  async credentials(store: ManagerStore): Promise<ManagerCredentials> {
    if (!this.isNode()) return this.loadCredentials()
    const node = this.loadNodeCredentials()
    const secrets = await (await installationSecrets()).openSecrets(store, readKek(this.dir), readNodeIdentity(this.dir).managerGuid)
    const caKey = loadPrivateKey(secrets.caKeyPem, 'the CA key in the database')
    if (!keyMatchesCertificate(caKey, node.caCert)) throw this.damaged(`the CA key in the database does not belong to ${HOME_FILES.caCert}`)
    const bindingCert = parseCertificate(secrets.binding.certPem, 'the binding certificate in the database')
    if (!issuedBy(bindingCert, node.caCert)) throw this.damaged(`the binding certificate in the database is not issued by ${HOME_FILES.caCert}`)
    return {...node, caKey, caKeyPem: secrets.caKeyPem, crlSigners: [{cert: node.caCert, key: caKey}], binding: {...secrets.binding, cert: bindingCert}}
  }

  private damaged(what: string, cause?: unknown): TetherError {
    return new TetherError('internal', 'home-corrupted', `the manager home ${this.dir} is damaged: ${what}`, {
      hint: 'restore it from a backup, or re-create it with `tether manager init --force --yes` (agents must then be re-activated)',
      cause,
    })
  }

  private certificateIn(pem: string, name: string): crypto.X509Certificate {
    try {
      return parseCertificate(pem, name)
    } catch (error) {
      throw this.damaged(`${name} is not a valid certificate (truncated or corrupted)`, error)
    }
  }

  private keyIn(pem: string, name: string): crypto.KeyObject {
    try {
      return loadPrivateKey(pem, name)
    } catch (error) {
      throw this.damaged(`${name} is not a valid private key (truncated or corrupted)`, error)
    }
  }

  /** The node's own credentials (no CA key): its certificate and key, and the CA certificate, cross-checked. */
  loadNodeCredentials(): NodeCredentials {
    checkPrivateDirectory(this.dir, 'the manager home')
    recoverIdentityChange(this.dir)
    const caCertPem = this.readRequired('caCert').toString('utf8')
    const managerCertPem = this.readRequired('managerCert').toString('utf8')
    const managerKeyPem = this.readRequired('managerKey').toString('utf8')

    const cas = this.loadCas(caCertPem)
    const managerCert = this.certificateIn(managerCertPem, HOME_FILES.managerCert)
    const managerKey = this.keyIn(managerKeyPem, HOME_FILES.managerKey)
    if (!keyMatchesCertificate(managerKey, managerCert)) throw this.damaged(`${HOME_FILES.managerKey} does not belong to ${HOME_FILES.managerCert}`)
    const issuer = cas.trusted.find((ca) => issuedBy(managerCert, ca.cert))
    if (!issuer) throw this.damaged(`${HOME_FILES.managerCert} is not signed by ${HOME_FILES.caCert}${cas.rotation ? ` or ${ROTATION_FILES.nextCert}` : ''}`)

    const kept = previousIdentity(this.dir)
    const previousCert = kept ? this.certificateIn(kept.certPem, 'manager.previous.crt') : undefined
    const previous = kept && previousCert && cas.trusted.some((ca) => issuedBy(previousCert, ca.cert)) ? {...kept, cert: previousCert} : undefined
    // During a rotation the chain leads to the installation's CA so far: from a certificate of
    // the new CA through its cross-signed certificate.
    const anchor = cas.rotation?.current ?? cas.issuing.cert
    const chainPem = issuer.cert === anchor || !cas.rotation ? issuer.pem : `${cas.crossPem}${cas.trusted.find((ca) => ca.cert === anchor)!.pem}`
    return {
      caCertPem: cas.issuing.pem, caCert: cas.issuing.cert,
      trustedCas: cas.trusted.map((ca) => ca.cert), trustedCasPem: cas.trusted.map((ca) => ca.pem).join(''),
      chainPem, anchorCa: anchor, ...(cas.rotation ? {rotation: cas.rotation} : {}),
      managerCertPem, managerKeyPem, managerKey, managerCert, previous,
    }
  }

  /** The CA certificates: the installation's, and during a rotation the new one and its cross-signed certificate. */
  private loadCas(caCertPem: string) {
    const stored = this.isNode() ? undefined : readRotation(this.dir)
    const nextPem = stored ? readRotationFile(this.dir, 'nextCert') : undefined
    const current = {pem: caCertPem, cert: this.certificateIn(caCertPem, HOME_FILES.caCert)}
    if (!stored || nextPem === undefined) return {issuing: current, trusted: [current], crossPem: '', rotation: undefined}
    const next = {pem: nextPem, cert: this.certificateIn(nextPem, ROTATION_FILES.nextCert)}
    if (stored.phase === 'retiring') return {issuing: next, trusted: [next], crossPem: '', rotation: undefined}
    const crossPem = readRotationFile(this.dir, 'cross')
    if (crossPem === undefined) throw this.damaged(`${ROTATION_FILES.cross} is missing while a CA rotation is ${stored.phase}`)
    const cross = this.certificateIn(crossPem, ROTATION_FILES.cross)
    if (!issuedBy(cross, current.cert) || cross.publicKey.export({type: 'spki', format: 'der'}).compare(next.cert.publicKey.export({type: 'spki', format: 'der'})) !== 0) {
      throw this.damaged(`${ROTATION_FILES.cross} is not ${ROTATION_FILES.nextCert}'s key signed by ${HOME_FILES.caCert}`)
    }

    const rotation: CaRotationView = {phase: stored.phase, preparedAt: stored.preparedAt, ...(stored.activatedAt ? {activatedAt: stored.activatedAt} : {}), current: current.cert, next: next.cert}
    const issuing = stored.phase === 'active' ? next : current
    return {issuing, trusted: [issuing, issuing === next ? current : next], crossPem, rotation}
  }

  /**
   * The store this home uses: the registry file (a missing one is an error, never created here), or
   * for a node the installation's database, which must be the one the node belongs to.
   */
  async openStore(): Promise<ManagerStore> {
    checkPrivateDirectory(this.dir, 'the manager home')
    if (!this.isNode()) {
      this.readRequired('database', {headOnly: true})
      // Lazy: a store's modules load only in commands that open it (not dsm_c -action exportdsmcert).
      const {SqliteManagerStore} = await import('./store/sqlite.js')
      return SqliteManagerStore.open(this.file('database'))
    }

    const node = readNodeIdentity(this.dir)
    // Lazy: as above.
    const {PostgresManagerStore} = await import('./store/postgres.js')
    const store = await PostgresManagerStore.open(nodeDatabaseUrl(this.dir))
    const {managerGuid} = await store.meta.identity().catch(async (error: unknown) => {
      await store.close()
      throw error
    })
    if (managerGuid !== node.managerGuid) {
      await store.close()
      throw new TetherError('refused', 'wrong-installation', `the database ${store.location} is ${managerGuid ? `installation ${managerGuid}` : 'not set up'}, not installation ${node.managerGuid} this node belongs to`, {
        hint: `point the node at its own database (${NODE_FILES.databaseUrl} in its home, or $TETHER_DATABASE_URL)`,
      })
    }

    return store
  }

  /** Credentials and store together, for work that issues, signs or connects. */
  async open(options: {now?: () => Date; log?: Logger} = {}): Promise<ManagerContext & {close(): Promise<void>}> {
    const store = await this.openStore()
    try {
      const credentials = await this.credentials(store)
      return {credentials, store, node: this.nodeName(), now: options.now ?? systemClock, log: options.log ?? silentLogger, close: () => store.close()}
    } catch (error) {
      await store.close()
      throw error
    }
  }

  async summary(): Promise<ManagerSummary> {
    const credentials = this.loadNodeCredentials()
    const store = await this.openStore()
    try {
      const identity = await store.meta.identity()
      return {
        home: this.dir,
        ...(this.isNode() ? {database: store.location, node: readNodeIdentity(this.dir).name} : {}),
        managerGuid: identity.managerGuid,
        tenantId: identity.tenantId,
        schemaVersion: store.schemaVersion,
        ca: summarize(credentials.caCert),
        manager: summarize(credentials.managerCert),
        previousManager: credentials.previous ? summarize(credentials.previous.cert) : null,
        computers: await store.computers.count(),
      }
    } finally {
      await store.close()
    }
  }
}

/** The machine's hostname, the default subject alternative name of the manager certificate. */
export function defaultHostnames(): string[] {
  const names = new Set([os.hostname(), 'localhost', '127.0.0.1'])
  return [...names].filter(Boolean)
}

/**
 * Create a manager home. Everything is built in a private staging directory beside the target and
 * renamed into place only when complete, so a failure at any step leaves the disk as it was.
 */
export async function initManagerHome(dir: string, options: InitOptions): Promise<ManagerHome> {
  return stageHome(dir, options.force ?? false, (staging) => populateHome(staging, options))
}

/**
 * Build a home in a private staging directory beside `dir` with `populate`, then rename it into
 * place: a failure at any step leaves the disk as it was. `force` replaces an initialized home.
 */
export async function stageHome(dir: string, force: boolean, populate: (staging: ManagerHome) => Promise<void>): Promise<ManagerHome> {
  const home = new ManagerHome(dir)
  const parent = path.dirname(dir)
  const existing = directoryState(dir)
  if (existing === 'initialized' && !force) {
    throw new TetherError('refused', 'home-exists', `the manager home ${dir} is already initialized`, {
      hint: 'use it as it is, or pass --force --yes to re-create it (this replaces the CA: every agent must be re-activated)',
    })
  }

  if (existing === 'foreign') {
    throw new TetherError('refused', 'home-not-empty', `${dir} exists, is not empty and is not a tether manager home`, {
      hint: 'choose an empty or new directory with --home',
    })
  }

  try {
    fs.mkdirSync(parent, {recursive: true})
  } catch (error) {
    throw new TetherError('usage', 'home-parent-unwritable', `cannot create ${parent}: ${(error as Error).message}`, {
      hint: 'choose a writable location with --home',
    })
  }

  let staging: string
  try {
    staging = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.init-`))
    fs.chmodSync(staging, PRIVATE_DIR_MODE)
  } catch (error) {
    throw new TetherError('usage', 'home-parent-unwritable', `cannot write in ${parent} (${errnoCode(error) ?? (error as Error).message})`, {
      hint: 'choose a writable location with --home, or run as a user who may write there',
    })
  }

  try {
    await populate(new ManagerHome(staging))
    swapIntoPlace(staging, dir, existing)
  } catch (error) {
    fs.rmSync(staging, {recursive: true, force: true})
    throw error
  }

  return home
}

export type DirectoryState = 'absent' | 'empty' | 'initialized' | 'foreign'

/** What is at `dir`: nothing, an empty directory, a manager home, or something else. */
export function directoryState(dir: string): DirectoryState {
  let entries: string[]
  try {
    entries = fs.readdirSync(dir)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return 'absent'
    if (errnoCode(error) === 'ENOTDIR') return 'foreign'
    throw error
  }

  if (entries.length === 0) return 'empty'
  return new ManagerHome(dir).looksInitialized() ? 'initialized' : 'foreign'
}

/** A new installation's CA: its key and self-signed certificate (a CA rotation's new CA gives the old one's name). */
export async function createCa(managerGuid: string, organization = 'tether', name?: NameSpec): Promise<{keyPem: string; certPem: string}> {
  // Lazy: pki/x509 loads only when certificates are issued.
  const {issueCertificate, VALIDITY_DAYS} = await import('../pki/x509.js')
  const caKeys = await generateRsaKeyPair(CA_KEY_BITS)
  const certPem = await issueCertificate({
    profile: 'ca',
    subject: name ?? {commonName: `tether manager CA ${managerGuid.slice(0, 8)}`, organization},
    publicKeyPem: caKeys.publicKeyPem,
    signerKeyPem: caKeys.privateKeyPem,
    validityDays: VALIDITY_DAYS.ca,
  })
  return {keyPem: caKeys.privateKeyPem, certPem}
}

async function populateHome(home: ManagerHome, options: InitOptions): Promise<void> {
  // Lazy: pki/x509 loads only when certificates are issued.
  const {issueCertificate, VALIDITY_DAYS} = await import('../pki/x509.js')
  const organization = options.organization ?? 'tether'
  const managerGuid = newGuid()
  const [ca, managerKeys] = await Promise.all([createCa(managerGuid, organization), generateRsaKeyPair(LEAF_KEY_BITS)])
  const caKeys = {privateKeyPem: ca.keyPem}
  const caCertPem = ca.certPem
  const managerCertPem = await issueCertificate({
    profile: 'manager',
    subject: {commonName: options.hostnames[0], organization, organizationalUnit: 'manager'},
    publicKeyPem: managerKeys.publicKeyPem,
    issuerCertPem: caCertPem,
    signerKeyPem: caKeys.privateKeyPem,
    validityDays: VALIDITY_DAYS.manager,
    altNames: options.hostnames,
  })

  writeFileAtomic(home.file('caKey'), caKeys.privateKeyPem, PRIVATE_FILE_MODE)
  writeFileAtomic(home.file('caCert'), caCertPem, PUBLIC_FILE_MODE)
  writeFileAtomic(home.file('managerKey'), managerKeys.privateKeyPem, PRIVATE_FILE_MODE)
  writeFileAtomic(home.file('managerCert'), managerCertPem, PUBLIC_FILE_MODE)

  // Lazy: as in openStore.
  const {SqliteManagerStore} = await import('./store/sqlite.js')
  const store = await SqliteManagerStore.open(home.file('database'), {create: true})
  try {
    store.seed({managerGuid, tenantId: newGuid(), createdAt: new Date().toISOString()})
    // Fold the WAL into the main file so the renamed directory is self-contained.
    store.checkpoint()
  } finally {
    await store.close()
  }

  fs.chmodSync(home.file('database'), PRIVATE_FILE_MODE)
}

/** Put the staged home at `dir`; an old home is moved aside first and removed only after. */
export function swapIntoPlace(staging: string, dir: string, existing: DirectoryState): void {
  if (existing === 'absent') {
    fs.renameSync(staging, dir)
    return
  }

  if (existing === 'empty') {
    fs.rmdirSync(dir)
    fs.renameSync(staging, dir)
    return
  }

  const aside = `${staging}.replaced`
  fs.renameSync(dir, aside)
  try {
    fs.renameSync(staging, dir)
  } catch (error) {
    fs.renameSync(aside, dir)
    throw error
  }

  fs.rmSync(aside, {recursive: true, force: true})
}

/** The one name the binding file may have on the agent (the product's documented name). */
export const EXPORT_FILE_NAME = 'ds_agent_dsm.crt'

/**
 * Write the manager certificate for binding agents (`dsm_c -action exportdsmcert`). The file name
 * is fixed by the product: any other name would be ignored by the agent, so it is refused here.
 */
export async function exportManagerCertificate(home: ManagerHome, requested: string): Promise<{file: string; certificate: CertificateSummary}> {
  // `-output DIR/` (or an existing directory) means DIR/ds_agent_dsm.crt.
  const output = /[/\\]$/.test(requested) || isDirectory(requested) ? path.join(requested, EXPORT_FILE_NAME) : requested
  if (path.basename(output) !== EXPORT_FILE_NAME) {
    throw new TetherError('usage', 'export-file-name', `the output file must be named exactly ${EXPORT_FILE_NAME}, not ${path.basename(output)}`, {
      hint: `name it ${EXPORT_FILE_NAME} (a directory before it is fine): --output DIR/${EXPORT_FILE_NAME}, or -output with dsm_c; the agent only reads that name`,
    })
  }

  const pem = await bindingPem(home)
  const file = path.resolve(output)
  try {
    writeFileAtomic(file, pem, PUBLIC_FILE_MODE)
  } catch (error) {
    throw new TetherError('usage', 'export-unwritable', `cannot write ${file} (${errnoCode(error) ?? (error as Error).message})`, {
      hint: 'choose a directory that exists and that you may write to',
    })
  }

  return {file, certificate: summarize(parseCertificate(pem, 'the binding certificate'))}
}

/**
 * The certificate agents are bound with: the manager certificate of an embedded home, or on
 * PostgreSQL the installation's binding certificate, which every node presents to a bound agent.
 */
async function bindingPem(home: ManagerHome): Promise<string> {
  const node = home.loadNodeCredentials()
  if (!home.isNode()) return node.managerCertPem
  const store = await home.openStore()
  try {
    const pem = await (await installationSecrets()).bindingCertificatePem(store)
    if (pem === undefined || !issuedBy(parseCertificate(pem, 'the binding certificate'), node.caCert)) {
      throw new TetherError('internal', 'installation-incomplete', `the database ${store.location} holds no binding certificate of this CA`, {hint: 'point the node at its installation\'s database'})
    }

    return pem
  } finally {
    await store.close()
  }
}

function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory()
  } catch {
    return false
  }
}

/** The name of this manager's one tenant, as classic `-tenantname` gives it. */
export const PRIMARY_TENANT_NAME = 'Primary'

/** `-tenantname NAME` / `-tenantid ID`: this manager's own tenant is accepted, any other refused. */
export function checkOwnTenant(tenantId: string, requested: {name?: string; id?: string}): void {
  if (requested.name !== undefined && requested.name.trim().toLowerCase() !== PRIMARY_TENANT_NAME.toLowerCase()) {
    throw new TetherError('refused', 'other-tenant', `tenant "${requested.name}" is not this manager's; tether has one tenant, ${PRIMARY_TENANT_NAME} (ID ${tenantId})`, {
      hint: `leave out -tenantname, or pass -tenantname ${PRIMARY_TENANT_NAME} or -tenantid ${tenantId}`,
    })
  }

  if (requested.id !== undefined && requested.id.trim().toUpperCase() !== tenantId.toUpperCase()) {
    throw new TetherError('refused', 'other-tenant', `tenant ID ${requested.id} is not this manager's (${tenantId})`, {
      hint: `leave out -tenantid, or pass -tenantid ${tenantId} (tether manager show prints it)`,
    })
  }
}
