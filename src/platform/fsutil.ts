import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {TetherError, errnoCode} from '../errors.js'

/** Mode for private keys and anything else only the owner may read. */
export const PRIVATE_FILE_MODE = 0o600
export const PUBLIC_FILE_MODE = 0o644
export const PRIVATE_DIR_MODE = 0o700

function fsyncDir(dir: string): void {
  // Directory fsync makes the rename itself durable; Windows cannot open directories, so skip there.
  if (process.platform === 'win32') return
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

function tempSibling(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`)
}

/**
 * Write a file so that a reader (or a crash) sees either the old content or the new, never a
 * torn one: write a temporary sibling with the final mode, fsync it, rename over, fsync the dir.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode: number = PUBLIC_FILE_MODE): void {
  const tmp = tempSibling(file)
  let fd: number | undefined
  try {
    fd = fs.openSync(tmp, 'wx', mode)
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    fd = undefined
    // The umask can strip bits from the mode given to open; set it exactly.
    fs.chmodSync(tmp, mode)
    fs.renameSync(tmp, file)
    fsyncDir(path.dirname(file))
  } catch (error) {
    if (fd !== undefined) fs.closeSync(fd)
    fs.rmSync(tmp, {force: true})
    throw error
  }
}

/** Remove a file and make the removal durable; a missing file is not an error. */
export function removeFileDurable(file: string): boolean {
  try {
    fs.unlinkSync(file)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false
    throw error
  }

  fsyncDir(path.dirname(file))
  return true
}

export function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined
    throw error
  }
}

export function fileMode(file: string): number {
  return fs.statSync(file).mode & 0o777
}

/**
 * An exclusive lock on a state directory, held by a lock file created with O_EXCL. A lock left by
 * a process that no longer exists is taken over, so a crash never wedges the directory.
 */
export class DirLock {
  private constructor(private readonly file: string) {}

  static readonly FILE_NAME = '.lock'

  static acquire(dir: string, options: {waitMs?: number; what?: string; file?: string} = {}): DirLock {
    const file = path.join(dir, options.file ?? DirLock.FILE_NAME)
    const deadline = Date.now() + (options.waitMs ?? 10_000)
    for (;;) {
      try {
        const fd = fs.openSync(file, 'wx', PRIVATE_FILE_MODE)
        fs.writeSync(fd, `${process.pid}\n`)
        fs.closeSync(fd)
        return new DirLock(file)
      } catch (error) {
        if (errnoCode(error) !== 'EEXIST') throw error
      }

      const holder = DirLock.holder(file)
      if (holder !== undefined && !processAlive(holder)) {
        // The holder died without releasing; its lock protects nothing any more.
        fs.rmSync(file, {force: true})
        continue
      }

      if (Date.now() > deadline) {
        throw new TetherError('refused', 'locked', `${options.what ?? dir} is locked by process ${holder ?? 'unknown'}`, {
          hint: 'wait for that process to finish, or stop it, then retry',
        })
      }

      sleepSync(25)
    }
  }

  /** The pid holding the lock file, if a live process does. */
  static liveHolder(dir: string, fileName: string = DirLock.FILE_NAME): number | undefined {
    const pid = DirLock.holder(path.join(dir, fileName))
    return pid !== undefined && processAlive(pid) ? pid : undefined
  }

  private static holder(file: string): number | undefined {
    const text = readIfExists(file)?.toString('utf8').trim()
    const pid = text ? Number.parseInt(text, 10) : Number.NaN
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  }

  release(): void {
    fs.rmSync(this.file, {force: true})
  }
}

export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoCode(error) === 'EPERM'
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** Run `fn` with the directory locked; the lock is released whatever happens. */
export function withDirLock<T>(dir: string, fn: () => T, what?: string): T {
  const lock = DirLock.acquire(dir, {what})
  try {
    return fn()
  } finally {
    lock.release()
  }
}
