import fs from 'node:fs'
import path from 'node:path'

import {TetherError, errnoCode} from '../errors.js'
import {PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, writeFileAtomic} from '../platform/fsutil.js'
import {isLockFile} from '../platform/lock.js'
import {ArchiveFile, BackupManifest, packArchive, unpackArchive} from './backup-archive.js'
import {DEFAULT_SCRYPT, ScryptParameters, backupError, inspectBackup, openBackup, sealBackup} from './backup-file.js'
import {DirectoryState, HOME_FILES, ManagerHome, directoryState, swapIntoPlace} from './home.js'
import {SqliteManagerStore} from './store/sqlite.js'
import type {ManagerStore} from './store/store.js'

/**
 * Backup and restore of a manager home: the CA and manager keys and certificates, any other file
 * of the home, and the registry, in one passphrase-encrypted file (backup-file.ts). A restore
 * verifies the whole file before it writes anything, then builds the home in a staging directory
 * and renames it into place, as `manager init` does.
 */

export interface BackupResult {
  file: string
  bytes: number
  createdAt: string
  managerGuid: string
  tenantId: string
  computers: number
  files: string[]
  kdf: ScryptParameters & {name: 'scrypt'}
}

const DATABASE_SIDECARS = ['-wal', '-shm', '-journal'].map((suffix) => `${HOME_FILES.database}${suffix}`)
const PRIVATE_NAMES = new Set<string>([HOME_FILES.caKey, HOME_FILES.managerKey, HOME_FILES.database])

/** The home's files besides the registry: the four credentials first, then whatever else is there. */
function homeFiles(home: ManagerHome): ArchiveFile[] {
  const named = Object.values(HOME_FILES).filter((name) => name !== HOME_FILES.database)
  const others = fs.readdirSync(home.dir, {withFileTypes: true})
    // Not: the registry (copied online), its WAL sidecars, locks (never opened through fs), dot-files (temporaries).
    .filter((entry) => entry.isFile() && !named.includes(entry.name as never) && entry.name !== HOME_FILES.database && !DATABASE_SIDECARS.includes(entry.name) && !isLockFile(entry.name) && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort()
  return [...named, ...others].map((name) => {
    const file = path.join(home.dir, name)
    return {name, mode: fs.statSync(file).mode & 0o777, data: fs.readFileSync(file)}
  })
}

/** A consistent copy of the registry, taken with SQLite's online backup into a private directory of the home. */
async function registryCopy(store: SqliteManagerStore, home: ManagerHome): Promise<Buffer> {
  const scratch = fs.mkdtempSync(path.join(home.dir, '.backup-'))
  try {
    fs.chmodSync(scratch, PRIVATE_DIR_MODE)
    const copy = path.join(scratch, HOME_FILES.database)
    await store.backup(copy)
    return fs.readFileSync(copy)
  } finally {
    fs.rmSync(scratch, {recursive: true, force: true})
  }
}

function refuseUnlessEmbedded(store: ManagerStore): SqliteManagerStore {
  if (store instanceof SqliteManagerStore) return store
  throw new TetherError('refused', 'backup-registry-on-postgres', `the registry of this manager home is on PostgreSQL (${store.location}); tether manager backup covers a home with the embedded SQLite registry`, {
    hint: 'back up the database with pg_dump (e.g. `pg_dump --format=custom --file tether.dump URL`) and each node\'s home directory with your file backups; nothing was written',
  })
}

/** Everything that would refuse a backup, checked before a passphrase is asked for. */
export function checkBackupSource(home: ManagerHome, store: ManagerStore, output: string): SqliteManagerStore {
  const file = path.resolve(output)
  const inside = path.relative(path.resolve(home.dir), file)
  if (!inside.startsWith('..') && !path.isAbsolute(inside)) {
    throw new TetherError('usage', 'backup-inside-home', `${file} is inside the manager home ${home.dir}`, {hint: 'write the backup outside the home (it is lost with the home, and the next backup would hold it)'})
  }

  const sqlite = refuseUnlessEmbedded(store)
  home.loadCredentials() // the cross-checks: a damaged home is refused, not preserved
  return sqlite
}

export async function createBackup(home: ManagerHome, store: ManagerStore, output: string, passphrase: string, options: {tetherVersion?: string; kdf?: ScryptParameters; now?: Date} = {}): Promise<BackupResult> {
  const file = path.resolve(output)
  const sqlite = checkBackupSource(home, store, output)
  const identity = await store.meta.identity()
  const createdAt = (options.now ?? new Date()).toISOString()
  const files = [...homeFiles(home), {name: HOME_FILES.database, mode: PRIVATE_FILE_MODE, data: await registryCopy(sqlite, home)}]
  const computers = await store.computers.count()
  const payload = packArchive({createdAt, tetherVersion: options.tetherVersion, managerGuid: identity.managerGuid, tenantId: identity.tenantId, schemaVersion: store.schemaVersion, computers}, files)
  const kdf = options.kdf ?? DEFAULT_SCRYPT
  const sealed = await sealBackup(payload, passphrase, kdf)
  try {
    writeFileAtomic(file, sealed, PRIVATE_FILE_MODE)
  } catch (error) {
    throw new TetherError('usage', 'backup-unwritable', `cannot write ${file} (${errnoCode(error) ?? (error as Error).message})`, {hint: 'choose a directory that exists and that you may write to'})
  }

  // Read it back: what is on disk must be what was sealed (a full disk or a bad medium shows here, not at restore).
  const written = fs.readFileSync(file)
  if (!written.equals(sealed) || inspectBackup(written).failure) {
    throw new TetherError('internal', 'backup-unreadable', `${file} does not read back as written`, {hint: 'check the disk (space, errors) and write the backup elsewhere'})
  }

  return {file, bytes: sealed.length, createdAt, managerGuid: identity.managerGuid, tenantId: identity.tenantId, computers, files: files.map((f) => f.name), kdf: {name: 'scrypt', ...kdf}}
}

/** Refuse a restore target that holds a home (unless forced) or anything else, before a passphrase is asked for. */
export function checkRestoreTarget(dir: string, force: boolean): DirectoryState {
  const state = directoryState(dir)
  if (state === 'initialized' && !force) {
    throw new TetherError('refused', 'home-exists', `the manager home ${dir} is already initialized`, {
      hint: 'restore into a new directory with --home, or pass --force --yes to replace this home with the backup (stop its manager first)',
    })
  }

  if (state === 'foreign') throw new TetherError('refused', 'home-not-empty', `${dir} exists, is not empty and is not a tether manager home`, {hint: 'choose an empty or new directory with --home'})
  return state
}

function readBackupFile(file: string): Buffer {
  try {
    return fs.readFileSync(file)
  } catch (error) {
    const code = errnoCode(error)
    throw new TetherError(code === 'ENOENT' ? 'notFound' : 'usage', code === 'ENOENT' ? 'backup-not-found' : 'backup-unreadable', `cannot read the backup ${file} (${code ?? (error as Error).message})`, {
      hint: 'pass the file written by `tether manager backup`; nothing was written',
    })
  }
}

/** A restored file's mode: keys and the registry owner-only, others at most 0644. */
function restoredMode(file: ArchiveFile): number {
  return PRIVATE_NAMES.has(file.name) || file.name.endsWith('.key') ? PRIVATE_FILE_MODE : file.mode & 0o644 || PRIVATE_FILE_MODE
}

/** Write the home into `staging` and check it as a running manager would load it. */
async function populate(staging: string, files: ArchiveFile[], manifest: BackupManifest, what: string): Promise<void> {
  for (const file of files) writeFileAtomic(path.join(staging, file.name), file.data, restoredMode(file))
  const home = new ManagerHome(staging)
  try {
    home.loadCredentials()
  } catch (error) {
    throw new TetherError('trust', 'backup-credentials-invalid', `the credentials in ${what} do not check out: ${(error as Error).message.replace(/^the manager home \S+ is damaged: /, '')}`, {hint: 'use another backup; nothing was written', cause: error})
  }

  const store = await SqliteManagerStore.open(home.file('database'))
  try {
    const identity = await store.meta.identity()
    if (identity.managerGuid !== manifest.managerGuid) throw new TetherError('trust', 'backup-tampered', `${what} is damaged or was tampered with: its registry belongs to manager ${identity.managerGuid}, its manifest names ${manifest.managerGuid}`, {hint: 'use another backup; nothing was written'})
    // Fold the WAL (and any migration) into the main file, so the renamed directory is self-contained.
    store.checkpoint()
  } finally {
    await store.close()
  }

  fs.chmodSync(home.file('database'), PRIVATE_FILE_MODE)
}

/** Everything that would refuse a restore without the passphrase: the target, and the file's form and integrity. */
export function checkRestore(backupFile: string, dir: string, force: boolean): void {
  const what = path.resolve(backupFile)
  const bytes = readBackupFile(what)
  checkRestoreTarget(dir, force)
  const {failure, detail} = inspectBackup(bytes)
  if (failure) throw backupError(failure, what, detail)
}

export async function restoreBackup(backupFile: string, dir: string, passphrase: string, options: {force?: boolean} = {}): Promise<{home: ManagerHome; manifest: BackupManifest}> {
  const what = path.resolve(backupFile)
  const bytes = readBackupFile(what)
  const state = checkRestoreTarget(dir, Boolean(options.force))
  const {payload} = await openBackup(bytes, passphrase, what)
  const required = Object.values(HOME_FILES) as string[]
  const {manifest, files} = unpackArchive(payload, what, required)

  const parent = path.dirname(dir)
  let staging: string
  try {
    fs.mkdirSync(parent, {recursive: true})
    staging = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.restore-`))
    fs.chmodSync(staging, PRIVATE_DIR_MODE)
  } catch (error) {
    throw new TetherError('usage', 'home-parent-unwritable', `cannot write in ${parent} (${errnoCode(error) ?? (error as Error).message})`, {
      hint: 'choose a writable location with --home, or run as a user who may write there',
    })
  }

  try {
    await populate(staging, files, manifest, what)
    swapIntoPlace(staging, dir, state)
  } catch (error) {
    fs.rmSync(staging, {recursive: true, force: true})
    throw error
  }

  return {home: new ManagerHome(dir), manifest}
}
