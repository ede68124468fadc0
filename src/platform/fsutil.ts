import fs from 'node:fs'
import path from 'node:path'

import {errnoCode} from '../errors.js'

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
  // node:crypto loads at the first write, not with every command that reads files (3 ms of a cold start).
  const random = process.getBuiltinModule('node:crypto').randomBytes(4).toString('hex')
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${random}.tmp`)
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

/** Rename a file over another and make the rename durable (same directory). */
export function renameDurable(from: string, to: string): void {
  fs.renameSync(from, to)
  fsyncDir(path.dirname(to))
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

/** A cheap stamp of some files (inode, mtime, size; `-` for a missing one): it changes when any is replaced. */
export function filesStamp(files: string[]): string {
  return files.map((file) => {
    try {
      const st = fs.statSync(file)
      return `${st.mtimeMs}:${st.size}:${st.ino}`
    } catch {
      return '-'
    }
  }).join('|')
}

export function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file)
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined
    throw error
  }
}

/** The first `bytes` of a file (undefined: it does not exist): proof it is there and readable, without reading it all. */
export function readHeadIfExists(file: string, bytes: number): Buffer | undefined {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined
    throw error
  }

  try {
    const head = Buffer.alloc(bytes)
    return head.subarray(0, fs.readSync(fd, head, 0, bytes, 0))
  } finally {
    fs.closeSync(fd)
  }
}

export function fileMode(file: string): number {
  return fs.statSync(file).mode & 0o777
}

/** Whether a process with this pid exists (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoCode(error) === 'EPERM'
  }
}
