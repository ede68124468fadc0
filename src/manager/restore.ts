import fs from 'node:fs'
import path from 'node:path'

import {TetherError, errnoCode} from '../errors.js'
import {PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, writeFileAtomic} from '../platform/fsutil.js'
import {ArchiveFile, BackupManifest, unpackArchive} from './backup-archive.js'
import {backupError, inspectBackup, openBackup} from './backup-file.js'
import {DirectoryState, HOME_FILES, ManagerHome, directoryState, swapIntoPlace} from './home.js'
import {SqliteManagerStore} from './store/sqlite.js'

/**
 * Restore of a manager home from a backup (backup.ts). The whole file is verified before anything
 * is written; then the home is built in a staging directory beside the target, checked as a
 * running manager would load it, and renamed into place, as `manager init` does.
 */

const PRIVATE_NAMES = new Set<string>([HOME_FILES.caKey, HOME_FILES.managerKey, HOME_FILES.database])

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
