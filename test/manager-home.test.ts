import fs from 'node:fs'
import path from 'node:path'

import Database from 'better-sqlite3'
import {beforeAll, describe, expect, it} from 'vitest'

import {SQLITE_MIGRATIONS} from '../src/manager/store/sqlite-schema.js'

const SCHEMA_VERSION = SQLITE_MIGRATIONS.length
import {initManager, json, openssl, snapshot, tempDir, tether} from './helpers.js'

describe('tether manager init / show', () => {
  let home: string
  let env: Record<string, string>
  beforeAll(async () => {
    ;({home, env} = await initManager(tempDir(), [], {agentInitiated: false}))
  })

  it('creates the CA, the manager certificate (chaining to it) and the registry, keys 0600', async () => {
    const files = fs.readdirSync(home).sort()
    expect(files).toEqual(['ca.crt', 'ca.key', 'manager.crt', 'manager.key', 'tether.db'])
    expect(fs.statSync(path.join(home, 'ca.key')).mode & 0o777).toBe(0o600)
    expect(fs.statSync(path.join(home, 'manager.key')).mode & 0o777).toBe(0o600)
    expect(fs.statSync(home).mode & 0o777).toBe(0o700)
    const verify = await openssl(['verify', '-CAfile', path.join(home, 'ca.crt'), path.join(home, 'manager.crt')])
    expect(verify.stdout.trim()).toBe(`${path.join(home, 'manager.crt')}: OK`)
    const text = (await openssl(['x509', '-in', path.join(home, 'manager.crt'), '-noout', '-ext', 'extendedKeyUsage,subjectAltName'])).stdout
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication')
    expect(text).toContain('DNS:localhost, IP Address:127.0.0.1')
    expect(json(await tether(['manager', 'show', '--json'], {TETHER_MANAGER_HOME: home})).schemaVersion).toBe(SCHEMA_VERSION)
  })

  it('shows both certificates with fingerprints openssl agrees with', async () => {
    const shown = json(await tether(['manager', 'show', '--json'], env))
    expect(Object.keys(shown).sort()).toEqual(['ca', 'computers', 'home', 'manager', 'managerGuid', 'previousManager', 'schemaVersion', 'tenantId', 'warnings'])
    // A new manager is closed by default: nothing to warn about.
    expect(shown.warnings).toEqual([])
    const fp = (await openssl(['x509', '-in', path.join(home, 'manager.crt'), '-noout', '-fingerprint', '-sha256'])).stdout.trim().split('=')[1]
    expect(shown.manager.sha256).toBe(fp)
    expect(shown.ca.isCA).toBe(true)
    expect(shown.tenantId).toMatch(/^[0-9A-F-]{36}$/)
    const human = await tether(['manager', 'show'], env)
    expect(human.stdout).toContain(fp)
    expect(human.stdout).toContain('Tenant ID')
  })

  it('refuses to initialize again and changes nothing', async () => {
    const before = snapshot(home)
    const again = await tether(['manager', 'init'], env)
    expect(again.exitCode).toBe(4)
    expect(again.stderr).toMatch(/already initialized; .*--force --yes/)
    expect(again.stderr.trim().split('\n')).toHaveLength(1)
    const forceNoTty = await tether(['manager', 'init', '--force'], env)
    expect(forceNoTty.exitCode).toBe(2)
    expect(forceNoTty.stderr).toContain('pass --yes')
    expect(snapshot(home)).toEqual(before)
  })

  it('re-creates with --force --yes: a new CA replaces the old one', async () => {
    const dir = tempDir()
    const {home: other, env: otherEnv} = await initManager(dir)
    const before = json(await tether(['manager', 'show', '--json'], otherEnv))
    const redo = await tether(['manager', 'init', '--force', '--yes', '--hostname', 'dsm2.test', '--json'], otherEnv)
    expect(redo.exitCode).toBe(0)
    const after = json(redo)
    expect(after.ca.sha256).not.toBe(before.ca.sha256)
    expect(after.manager.subjectAltNames).toEqual(['DNS:dsm2.test'])
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([])
    expect(fs.readdirSync(other).sort()).toEqual(['ca.crt', 'ca.key', 'manager.crt', 'manager.key', 'tether.db'])
  })

  it('refuses a non-empty directory that is not a manager home', async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine')
    const result = await tether(['manager', 'init', '--home', dir])
    expect(result.exitCode).toBe(4)
    expect(result.stderr).toContain('is not a tether manager home')
    expect(fs.readdirSync(dir)).toEqual(['notes.txt'])
  })
})

describe('damaged or missing manager homes', () => {
  it('an uninitialized home: not found, with the command to run', async () => {
    const dir = path.join(tempDir(), 'nothing')
    for (const args of [['manager', 'show'], ['manager', 'export-cert', '--output', path.join(tempDir(), 'ds_agent_dsm.crt')]]) {
      const result = await tether([...args, '--home', dir])
      expect(result.exitCode).toBe(3)
      expect(result.stderr).toMatch(/no manager home at .*; run `tether manager init` first/)
    }

    expect(fs.existsSync(dir)).toBe(false)
    const asJson = json(await tether(['manager', 'show', '--home', dir, '--json']))
    expect(asJson.error).toMatchObject({code: 'home-not-initialized', class: 'notFound', exitCode: 3})
  })

  it('a truncated key file is named, and nothing is changed', async () => {
    const {home, env} = await initManager(tempDir())
    const key = path.join(home, 'manager.key')
    fs.writeFileSync(key, fs.readFileSync(key, 'utf8').slice(0, 200))
    const before = snapshot(home)
    for (const args of [['manager', 'show'], ['manager', 'export-cert', '--output', path.join(tempDir(), 'ds_agent_dsm.crt')]]) {
      const result = await tether(args, env)
      expect(result.exitCode).toBe(1)
      expect(result.stderr).toMatch(/damaged: manager.key is not a valid private key \(truncated or corrupted\); restore it from a backup/)
    }

    expect(snapshot(home)).toEqual(before)
  })

  it('a key that belongs to another certificate is named', async () => {
    const {home, env} = await initManager(tempDir())
    fs.copyFileSync(path.join(home, 'ca.key'), path.join(home, 'manager.key'))
    const result = await tether(['manager', 'show'], env)
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('manager.key does not belong to manager.crt')
  })

  it('a database from a newer schema is refused without touching it', async () => {
    const {home, env} = await initManager(tempDir())
    // A registry written by a future tether (its schema version is all that matters here).
    const db = new Database(path.join(home, 'tether.db'))
    db.pragma(`user_version = ${SCHEMA_VERSION + 5}`)
    db.close()
    const before = snapshot(home)
    const result = await tether(['manager', 'show'], env)
    expect(result.exitCode).toBe(4)
    expect(result.stderr).toContain(`has schema version ${SCHEMA_VERSION + 5}, newer than this tether supports (${SCHEMA_VERSION}); upgrade tether`)
    expect(snapshot(home)).toEqual(before)
  })

  it('a database that is not SQLite is reported as corrupted', async () => {
    const {home, env} = await initManager(tempDir())
    fs.writeFileSync(path.join(home, 'tether.db'), 'garbage'.repeat(200))
    const result = await tether(['manager', 'show', '--json'], env)
    expect(result.exitCode).toBe(1)
    expect(json(result).error.code).toBe('corrupt-database')
  })
})
