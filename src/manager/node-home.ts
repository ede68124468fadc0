import fs from 'node:fs'
import path from 'node:path'

import {TetherError, errnoCode} from '../errors.js'
import {KEK_BYTES} from '../pki/seal.js'
import {PRIVATE_FILE_MODE, fileMode, readIfExists, writeFileAtomic} from '../platform/fsutil.js'

/**
 * The files of a manager node whose registry is on PostgreSQL (besides its key, certificate and
 * the CA certificate): the key-encryption key that opens the installation's secrets in the
 * database, the database URL (it may hold a password), and which node and installation it is.
 * The KEK marks a home as a node's.
 */

export const NODE_FILES = {kek: 'kek.key', databaseUrl: 'database.url', node: 'node.json'} as const

export const DATABASE_URL_ENV = 'TETHER_DATABASE_URL'

export interface NodeIdentity {
  /** This node's name among the installation's nodes. */
  name: string
  /** The installation (manager GUID) it belongs to, checked against the database at every open. */
  managerGuid: string
}

const file = (dir: string, name: keyof typeof NODE_FILES) => path.join(dir, NODE_FILES[name])

export function isNodeHome(dir: string): boolean {
  return fs.existsSync(file(dir, 'kek'))
}

/** A file holding a secret must be readable by its owner only. */
function readPrivate(dir: string, name: keyof typeof NODE_FILES): string | undefined {
  const target = file(dir, name)
  const content = readIfExists(target)
  if (content === undefined) return undefined
  const mode = fileMode(target)
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new TetherError('trust', 'secret-file-not-private', `${target} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): it holds a secret`, {
      hint: `make it private: chmod 600 ${target}`,
    })
  }

  return content.toString('utf8')
}

function missing(dir: string, name: keyof typeof NODE_FILES): TetherError {
  return new TetherError('notFound', 'home-incomplete', `the manager node home ${dir} is incomplete: ${NODE_FILES[name]} is missing`, {
    hint: 'restore the node home from its backup, or join the node again (`tether manager nodes invite` on another node, then `tether manager join`)',
  })
}

export function readKek(dir: string): Buffer {
  const text = readPrivate(dir, 'kek')
  if (text === undefined) throw missing(dir, 'kek')
  const kek = Buffer.from(text.trim(), 'base64')
  if (kek.length !== KEK_BYTES) throw new TetherError('internal', 'home-corrupted', `${file(dir, 'kek')} is not a ${KEK_BYTES}-byte key`, {hint: 'restore it from the node home\'s backup'})
  return kek
}

/** The node's database: its database.url, else $TETHER_DATABASE_URL (a home made without the file). */
export function nodeDatabaseUrl(dir: string, env: NodeJS.ProcessEnv = process.env): string {
  const url = readPrivate(dir, 'databaseUrl')?.trim() || env[DATABASE_URL_ENV]
  if (!url) {
    throw new TetherError('usage', 'no-database-url', `the manager node home ${dir} names no database (no ${NODE_FILES.databaseUrl}, and $${DATABASE_URL_ENV} is not set)`, {
      hint: `set $${DATABASE_URL_ENV} to the installation's postgres:// URL, or write it to ${file(dir, 'databaseUrl')} (mode 600)`,
    })
  }

  return url
}

export function readNodeIdentity(dir: string): NodeIdentity {
  const text = readIfExists(file(dir, 'node'))?.toString('utf8')
  if (text === undefined) throw missing(dir, 'node')
  try {
    const parsed = JSON.parse(text) as NodeIdentity
    if (typeof parsed.name === 'string' && typeof parsed.managerGuid === 'string') return parsed
  } catch {}

  throw new TetherError('internal', 'home-corrupted', `${file(dir, 'node')} is damaged`, {hint: 'restore it from the node home\'s backup'})
}

/** Write a node's own files (into a staging home, or a home being switched); the KEK last, as it marks the home a node's. */
export function writeNodeFiles(dir: string, files: {kek: Buffer; databaseUrl?: string; identity: NodeIdentity}): void {
  try {
    if (files.databaseUrl !== undefined) writeFileAtomic(file(dir, 'databaseUrl'), `${files.databaseUrl}\n`, PRIVATE_FILE_MODE)
    writeFileAtomic(file(dir, 'node'), `${JSON.stringify(files.identity, null, 2)}\n`, PRIVATE_FILE_MODE)
    writeFileAtomic(file(dir, 'kek'), `${files.kek.toString('base64')}\n`, PRIVATE_FILE_MODE)
  } catch (error) {
    throw new TetherError('usage', 'home-unwritable', `cannot write the node files in ${dir} (${errnoCode(error) ?? (error as Error).message})`, {hint: 'choose a writable --home'})
  }
}
