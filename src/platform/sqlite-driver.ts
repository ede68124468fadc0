import fs from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

import type BetterSqlite3 from 'better-sqlite3'

/**
 * better-sqlite3, loaded on first use, synchronously (the CLI's lock is taken synchronously): one
 * loader for the databases (sqlite.ts) and the directory locks (lock.ts). Through require, not
 * import(): Node's ESM loader would run its CommonJS export scanner over the package first (about
 * 4 ms of a dsa_query cold start).
 */

let loaded: {Database: typeof BetterSqlite3; nativeBinding?: string} | undefined

/**
 * The package, and its compiled addon where the `bindings` package better-sqlite3 uses would find
 * it first (build/, build/Debug/, build/Release/), so that search (a stack trace and failed
 * requires: 3-5 ms of every cold start that opens a database) is skipped. In another layout,
 * better-sqlite3 searches as it always does.
 */
function driver(): NonNullable<typeof loaded> {
  if (loaded) return loaded
  const require = createRequire(import.meta.url)
  const root = path.dirname(require.resolve('better-sqlite3/package.json'))
  const nativeBinding = ['build', 'build/Debug', 'build/Release'].map((dir) => path.join(root, dir, 'better_sqlite3.node')).find((file) => fs.existsSync(file))
  loaded = {Database: require('better-sqlite3') as typeof BetterSqlite3, nativeBinding}
  return loaded
}

/**
 * How to open a database file with better-sqlite3 (its options as given, the addon as found
 * above); the package loads at the first call, so a failure to load it is told apart from one to
 * open a file.
 */
export function sqliteOpener(): (file: string, options?: BetterSqlite3.Options) => BetterSqlite3.Database {
  const {Database, nativeBinding} = driver()
  return (file, options = {}) => new Database(file, nativeBinding ? {...options, nativeBinding} : options)
}
