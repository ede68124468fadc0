import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {TetherError} from '../src/errors.js'
import {createBackup} from '../src/manager/backup.js'
import {ManagerHome} from '../src/manager/home.js'
import {openManagerStore} from '../src/manager/store/open.js'
import {initManager, tempDir} from './helpers.js'
import {usePostgres} from './postgres.js'

const postgres = usePostgres()

describe('backup of a home whose registry is on PostgreSQL', () => {
  it('is refused, saying the node files and pg_dump cover it; nothing is written', async () => {
    const {home} = await initManager(tempDir())
    const store = await openManagerStore(await postgres().createDatabase())
    const out = path.join(tempDir(), 'b.tbk')
    try {
      const refused = await createBackup(new ManagerHome(home), store, out, 'a long enough passphrase').catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(TetherError)
      const error = refused as TetherError
      expect(error).toMatchObject({code: 'backup-registry-on-postgres', failure: 'refused'})
      expect(error.message).toMatch(/^the registry of this manager home is on PostgreSQL \(postgres(ql)?:\/\/.*\); tether manager backup covers a home with the embedded SQLite registry$/)
      expect(error.hint).toContain('back up the database with pg_dump')
      expect(error.hint).toContain("each node's home directory")
      expect(error.toLine()).not.toContain(postgres().password)
    } finally {
      await store.close()
    }

    expect(fs.existsSync(out)).toBe(false)
    expect(fs.readdirSync(home).sort()).toEqual(['ca.crt', 'ca.key', 'manager.crt', 'manager.key', 'tether.db'])
  })
})
