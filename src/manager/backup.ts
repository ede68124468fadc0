import fs from 'node:fs'
import path from 'node:path'

import {TetherError, errnoCode} from '../errors.js'
import {PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, writeFileAtomic} from '../platform/fsutil.js'
import {isLockFile} from '../platform/lock.js'
import {ArchiveFile, packArchive} from './backup-archive.js'
import {DEFAULT_SCRYPT, ScryptParameters, inspectBackup, sealBackup} from './backup-file.js'
import {HOME_FILES, ManagerHome} from './home.js'
import {SqliteManagerStore} from './store/sqlite.js'
import type {ManagerStore} from './store/store.js'

/**
 * Backup of a manager home: the CA and manager keys and certificates, any other file of the home,
 * and a consistent copy of the registry, in one passphrase-encrypted file (backup-file.ts, the
 * format; backup-archive.ts, what is inside). restore.ts brings it back.
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
  let scratch: string
  try {
    scratch = fs.mkdtempSync(path.join(home.dir, '.backup-'))
  } catch (error) {
    throw new TetherError('usage', 'backup-scratch-unwritable', `cannot write the registry copy in ${home.dir} (${errnoCode(error) ?? (error as Error).message})`, {
      hint: 'run the backup as the user that owns the manager home',
    })
  }

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
