import fs from 'node:fs'
import path from 'node:path'

import type BetterSqlite3 from 'better-sqlite3'

import {TetherError, errnoCode} from '../errors.js'
import {PRIVATE_FILE_MODE, processAlive, readIfExists} from './fsutil.js'
import {sqliteOpener} from './sqlite-driver.js'

/**
 * An exclusive lock on a directory: an exclusive SQLite transaction (`BEGIN EXCLUSIVE`, never
 * committed, nothing written) on an empty lock file. SQLite takes it as a POSIX advisory record
 * lock (LockFileEx on Windows), which the OS drops when the holding process dies, so there is no
 * stale lock and nothing to take over: a crashed holder's lock is free at once. Within one process
 * SQLite also excludes a second connection, so two holders never overlap there either.
 *
 * Caveat: POSIX drops ALL of a process's record locks on a file when that process closes ANY
 * descriptor of it. Nothing in a tether process may open a lock file through `fs` (read, copy,
 * hash, truncate, delete-and-recreate): that would silently unlock it. Lock files end in `.lock`
 * (see isLockFile) so directory walkers can skip them. The file is never removed.
 *
 * Who holds it goes in a sidecar (`<lock>.pid`), written after acquiring and removed before
 * releasing; it only names the holder in messages, the lock itself is the transaction.
 *
 * Two ways to wait: `acquire` blocks the thread (for short-lived CLI processes, which have nothing
 * else to do) and `acquireAsync` polls on timers (for daemons, whose event loop must keep running).
 */

type Database = BetterSqlite3.Database

const POLL_MS = 25
const DEFAULT_WAIT_MS = 10_000
const BUSY = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED'])
const UNWRITABLE = new Set(['SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_PERM', 'SQLITE_AUTH'])

/** Whether a directory entry is a lock file or its sidecar, which a walker must not open. */
export function isLockFile(name: string): boolean {
  return /\.lock(\.pid)?$/.test(name)
}

export interface LockOptions {
  /** The lock file's name in the directory (default DirLock.FILE_NAME); must end in `.lock`. */
  file?: string
  /** How long to wait for a holder to release (default 10 s; 0: try once). */
  waitMs?: number
  /** What is locked, for the message ("the agent directory /var/opt/ds_agent/dsa_core"). */
  what?: string
  /** Called once when the lock is busy at the first attempt and waiting begins. */
  onWait?: (holder: {pid?: number}) => void
}

/** One connection trying for the lock. */
class Contender {
  readonly db: Database

  constructor(readonly file: string) {
    if (!isLockFile(path.basename(file))) throw new Error(`lock file names end in .lock: ${file}`)
    const isNew = !fs.existsSync(file)
    try {
      this.db = sqliteOpener()(file)
      this.db.pragma('busy_timeout = 0')
    } catch (error) {
      throw unwritable(file, error)
    }

    if (isNew) {
      try {
        fs.chmodSync(file, PRIVATE_FILE_MODE)
      } catch {
        // Created by another user's process between the check and the open: theirs to set.
      }
    }
  }

  /** One attempt, never waiting: true when the lock is now ours. */
  take(): boolean {
    try {
      this.db.exec('BEGIN EXCLUSIVE')
      return true
    } catch (error) {
      if (BUSY.has(errnoCode(error) ?? '')) return false
      this.db.close()
      if (errnoCode(error) === 'SQLITE_NOTADB') {
        throw new TetherError('internal', 'lock-file-damaged', `${this.file} is not a lock file: it holds other data`, {
          hint: 'stop every tether process using this directory, remove that file, and retry',
        })
      }

      throw unwritable(this.file, error)
    }
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

function unwritable(file: string, error: unknown): Error {
  const code = errnoCode(error) ?? ''
  if (!UNWRITABLE.has(code) && !code.startsWith('SQLITE_READONLY')) return error as Error
  // Read like the errno error a plain file open would give, so callers map it to their hint.
  return Object.assign(new Error(`cannot lock ${file} (${code})`, {cause: error}), {code: 'EACCES'})
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

export class DirLock {
  static readonly FILE_NAME = '.tether.lock'
  private released = false

  private constructor(private readonly contender: Contender) {}

  /** The lock is ours: say so in the sidecar (and give it back if even that fails). */
  private static held(contender: Contender): DirLock {
    try {
      writeHolder(holderFile(contender.file), process.pid)
    } catch (error) {
      contender.close()
      throw error
    }

    return new DirLock(contender)
  }

  /** Take the lock, blocking this thread while waiting. Only for short-lived CLI processes. */
  static acquire(dir: string, options: LockOptions = {}): DirLock {
    const contender = new Contender(path.join(dir, options.file ?? DirLock.FILE_NAME))
    const deadline = Date.now() + (options.waitMs ?? DEFAULT_WAIT_MS)
    for (let attempt = 0; !contender.take(); attempt++) {
      if (Date.now() >= deadline) {
        contender.close()
        throw lockedError(contender.file, options.what ?? dir)
      }

      if (attempt === 0) options.onWait?.({pid: holderPid(contender.file)})

      sleepSync(POLL_MS)
    }

    return DirLock.held(contender)
  }

  /** Take the lock, waiting on timers: the event loop keeps serving meanwhile. */
  static async acquireAsync(dir: string, options: LockOptions = {}): Promise<DirLock> {
    const contender = new Contender(path.join(dir, options.file ?? DirLock.FILE_NAME))
    const deadline = Date.now() + (options.waitMs ?? DEFAULT_WAIT_MS)
    for (let attempt = 0; !contender.take(); attempt++) {
      if (Date.now() >= deadline) {
        contender.close()
        throw lockedError(contender.file, options.what ?? dir)
      }

      if (attempt === 0) options.onWait?.({pid: holderPid(contender.file)})

      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }

    return DirLock.held(contender)
  }

  /**
   * Whether some process holds the lock now, and which (pid undefined: it has not written its
   * sidecar yet). Probing takes the lock for an instant when it is free.
   */
  static liveHolder(dir: string, fileName: string = DirLock.FILE_NAME): {pid?: number} | undefined {
    const file = path.join(dir, fileName)
    if (!fs.existsSync(file)) return undefined
    const contender = new Contender(file)
    try {
      if (!contender.take()) return {pid: holderPid(file)}
      contender.db.exec('ROLLBACK')
      return undefined
    } finally {
      contender.close()
    }
  }

  /** Give the lock up; a second call does nothing. */
  release(): void {
    if (this.released) return
    this.released = true
    // The sidecar goes first: once the transaction ends, the next holder writes its own.
    try {
      fs.rmSync(holderFile(this.contender.file), {force: true})
      this.contender.db.exec('ROLLBACK')
    } finally {
      this.contender.close()
    }
  }
}

function holderFile(lockFile: string): string {
  return `${lockFile}.pid`
}

/** Written whole (rename), so a reader never sees half a pid; not fsynced: meaningless after a crash. */
function writeHolder(file: string, pid: number): void {
  const tmp = `${file}.${pid}.tmp`
  fs.writeFileSync(tmp, `${pid}\n`, {mode: PRIVATE_FILE_MODE})
  fs.renameSync(tmp, file)
}

/** The pid the sidecar names, if that process is alive (a killed holder's sidecar stays behind). */
function holderPid(lockFile: string): number | undefined {
  const text = readIfExists(holderFile(lockFile))?.toString('utf8').trim()
  const pid = text ? Number.parseInt(text, 10) : Number.NaN
  return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined
}

function lockedError(lockFile: string, what: string): TetherError {
  const pid = holderPid(lockFile)
  return new TetherError('refused', 'locked', `${what} is locked by ${pid === undefined ? 'another process' : `process ${pid}`}`, {
    hint: 'wait for that process to finish, or stop it, then retry',
  })
}
