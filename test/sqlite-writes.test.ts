import path from 'node:path'

import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'

import {type Database as Db, openDatabase, writeYielding} from '../src/platform/sqlite.js'
import {tempDir} from './helpers.js'

/** A WAL database with one table, and a second connection to it (another writer). */
async function database(): Promise<{db: Db; other: Db; file: string}> {
  const file = path.join(tempDir(), 'writes.db')
  const db = await openDatabase(file, {what: 'the test database', migrations: ['CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)'], create: true, missingHint: '-', damagedHint: '-'})
  const other = new Database(file)
  other.pragma('busy_timeout = 5000')
  return {db, other, file}
}

const rows = (db: Db) => (db.prepare('SELECT v FROM t ORDER BY id').all() as Array<{v: string}>).map((r) => r.v)

describe('writeYielding', () => {
  it('does not sleep in SQLite\'s busy handler while another connection holds the write lock, from the first write of a connection on', async () => {
    const {db, other} = await database()
    try {
      other.prepare('BEGIN IMMEDIATE').run()
      let done = false
      const written = writeYielding(db, () => db.prepare("INSERT INTO t (v) VALUES ('first')").run()).then(() => (done = true))
      let ticks = 0
      const timer = setInterval(() => ticks++, 5)
      await new Promise((resolve) => setTimeout(resolve, 100))
      clearInterval(timer)
      expect(done).toBe(false)
      expect(ticks).toBeGreaterThan(3)
      other.prepare('COMMIT').run()
      await written
      expect(rows(other)).toEqual(['first'])
    } finally {
      db.close()
      other.close()
    }
  })
})
