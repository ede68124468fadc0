import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {ManagerHome} from '../src/manager/home.js'
import {agent, listener, newDsaCore} from './agents.js'
import {CliResult, initManager, json, run, snapshot, tempDir, tether} from './helpers.js'
import {onPty, plain} from './pty.js'
import {withStore} from './stores.js'

/**
 * tether manager backup / restore: a manager lost with its machine comes back from one encrypted
 * file on another, and its agents, in both communication directions, keep working.
 */

const PASSPHRASE = 'manager backup passphrase, kept apart'
const mode = (file: string) => fs.statSync(file).mode & 0o777

function passphraseFile(text = `${PASSPHRASE}\n`): string {
  const file = path.join(tempDir(), 'passphrase')
  fs.writeFileSync(file, text, {mode: 0o600})
  return file
}

function dsaControl(dsaCore: string, args: string[], hostname: string): Promise<CliResult> {
  return run('dsa_control', args, {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: hostname})
}

/** Nothing may show a passphrase: not the output, not the file. */
function expectNoPassphrase(...texts: Array<string | Buffer>): void {
  for (const text of texts) expect(text.includes(PASSPHRASE)).toBe(false)
}

describe('backup while the manager runs, restore on a new machine', () => {
  // Some thirty real CLI processes, two managers and an agent daemon: allowed more than the default minute on a loaded machine.
  it('both agents (manager-initiated and agent-initiated) keep working with the restored manager on the same port', {timeout: 180_000}, async () => {
    const original = await initManager(tempDir())
    expect((await run('dsm_c', ['-action', 'changesetting', '-name', 'settings.configuration.agentInitiatedActivation', '-value', '1'], original.env)).exitCode).toBe(0)
    const manager = await listener(original.home)

    // One agent activated by the manager, one that activated itself through dsa_control -a.
    const web = await agent(undefined, {hostname: 'web-01.test'})
    const activated = await tether(['manager', 'activate', web.address, '--json'], original.env)
    expect(activated.exitCode, activated.stderr).toBe(0)
    const webGuid = json(activated).computer.guid as string
    const db = newDsaCore()
    expect((await dsaControl(db, ['-a', manager.url], 'db-01.test')).stdout).toContain('HTTP Status: 200 - OK')
    const policy = path.join(tempDir(), 'policy.json')
    fs.writeFileSync(policy, '{"firewall": {"enabled": true}}')
    expect((await tether(['manager', 'policies', 'create', 'base', '--file', policy], original.env)).exitCode).toBe(0)
    const before = json(await tether(['manager', 'show', '--json'], original.env))

    // The backup, while the manager serves heartbeats from both agents.
    const file = path.join(tempDir(), 'offsite', 'tether.tbk')
    fs.mkdirSync(path.dirname(file))
    const [backup, ...beats] = await Promise.all([
      tether(['manager', 'backup', '--output', file, '--passphrase-file', passphraseFile(), '--json'], original.env),
      dsaControl(db, ['-m'], 'db-01.test'),
      dsaControl(web.dsaCore, ['-m'], 'web-01.test'),
    ])
    expect(backup.exitCode, backup.stderr).toBe(0)
    for (const beat of beats) expect(beat.exitCode, beat.stderr).toBe(0)
    expect(json(backup)).toMatchObject({file, managerGuid: before.managerGuid, computers: 2, files: ['ca.key', 'ca.crt', 'manager.key', 'manager.crt', 'tether.db'], kdf: {name: 'scrypt', log2N: 16, r: 8, p: 1}})
    expect(mode(file)).toBe(0o600)
    const bytes = fs.readFileSync(file)
    expect(bytes.includes('PRIVATE KEY')).toBe(false)
    expect(bytes.includes(webGuid)).toBe(false)
    expectNoPassphrase(backup.stdout, backup.stderr, bytes)

    // The machine is lost: the manager stops and its home is gone.
    await manager.stop()
    fs.rmSync(original.home, {recursive: true, force: true})

    // A new machine: another directory, the same port.
    const home = path.join(tempDir(), 'new-machine', 'var', 'lib', 'tether')
    const restored = await tether(['manager', 'restore', file, '--home', home, '--passphrase-file', passphraseFile(), '--json'])
    expect(restored.exitCode, restored.stderr).toBe(0)
    expect(json(restored)).toMatchObject({home, managerGuid: before.managerGuid, tenantId: before.tenantId, computers: 2, ca: {sha256: before.ca.sha256}, manager: {sha256: before.manager.sha256}, backup: {file}})
    expect(mode(home)).toBe(0o700)
    for (const key of ['ca.key', 'manager.key', 'tether.db']) expect(mode(path.join(home, key)), key).toBe(0o600)
    expect(fs.readdirSync(path.dirname(home))).toEqual(['tether'])
    expect(new ManagerHome(home).loadCredentials().caCert.fingerprint256).toBe(before.ca.sha256)
    const env = {TETHER_MANAGER_HOME: home}
    const restarted = await listener(home, {port: manager.port})
    expect(restarted.port).toBe(manager.port)

    // Heartbeats in both directions' agents reach the restored manager, which records them.
    const seen = async () => Object.fromEntries((await withStore(home, (store) => store.computers.list())).map((c) => [c.hostname, c.lastSeenAt]))
    const lastSeen = await seen()
    const since = new Date().toISOString()
    for (const [core, hostname] of [[db, 'db-01.test'], [web.dsaCore, 'web-01.test']]) {
      const beat = await dsaControl(core, ['-m'], hostname)
      expect(beat.exitCode, `${hostname}: ${beat.stderr}`).toBe(0)
    }

    const after = await seen()
    for (const hostname of ['db-01.test', 'web-01.test']) {
      expect(after[hostname]! > lastSeen[hostname]!, hostname).toBe(true)
      expect(after[hostname]! >= since, hostname).toBe(true)
    }

    const listed = json(await tether(['manager', 'computers', 'list', '--json'], env)).computers as Array<Record<string, any>>
    expect(listed.map((c) => [c.hostname, c.state, c.presence]).sort()).toEqual([['db-01.test', 'activated', 'online'], ['web-01.test', 'activated', 'online']])

    // A policy: pushed now to the agent the manager can reach, delivered to the other at its heartbeat.
    for (const hostname of ['web-01.test', 'db-01.test']) expect((await tether(['manager', 'policies', 'assign', 'base', hostname], env)).exitCode).toBe(0)
    expect(json(await tether(['manager', 'send-policy', 'web-01.test', '--json'], env))).toMatchObject({delivered: true, configuration: {upToDate: true}})
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', web.dsaCore])).configuration).toMatchObject({policy: 'base', version: 1})
    expect((await dsaControl(db, ['-m'], 'db-01.test')).exitCode).toBe(0)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', db])).configuration).toMatchObject({policy: 'base', version: 1})
  })
})

describe('restore refuses, by name, and writes nothing', () => {
  let source: {home: string; env: Record<string, string>}
  let file: string
  const pass = () => passphraseFile()
  beforeAll(async () => {
    source = await initManager(tempDir())
    file = path.join(tempDir(), 'tether.tbk')
    const made = await tether(['manager', 'backup', '--output', file, '--passphrase-file', pass()], source.env)
    expect(made.exitCode, made.stderr).toBe(0)
  })

  /** A variant of the backup file, written beside it. */
  function variant(name: string, edit: (bytes: Buffer) => Buffer): string {
    const out = path.join(tempDir(), name)
    fs.writeFileSync(out, edit(Buffer.from(fs.readFileSync(file))))
    return out
  }

  const flip = (at: (length: number) => number) => (bytes: Buffer) => {
    bytes[at(bytes.length)] ^= 0x04
    return bytes
  }

  const newerVersion = (bytes: Buffer) => {
    bytes[14] = 2
    const body = bytes.subarray(0, -32)
    return Buffer.concat([body, crypto.createHash('sha256').update(body).digest()])
  }

  const cases: Array<[string, () => string[], string, number, RegExp]> = [
    ['wrong passphrase', () => [file, '--passphrase-file', passphraseFile('not the passphrase\n')], 'backup-wrong-passphrase', 4, /the passphrase does not open .*tether\.tbk; check the passphrase/],
    ['truncated', () => [variant('cut.tbk', (b) => b.subarray(0, Math.floor(b.length / 2))), '--passphrase-file', pass()], 'backup-truncated', 2, /cut\.tbk is truncated: it has \d+ of \d+ bytes; copy the backup again/],
    ['a byte flipped in the registry', () => [variant('flipped.tbk', flip((n) => n - 1000)), '--passphrase-file', pass()], 'backup-tampered', 5, /flipped\.tbk is damaged or was tampered with: its checksum does not match/],
    ['a byte flipped in the header (the salt)', () => [variant('salt.tbk', flip(() => 20)), '--passphrase-file', pass()], 'backup-tampered', 5, /salt\.tbk is damaged or was tampered with/],
    ['not a tether backup', () => [path.join(source.home, 'ca.crt'), '--passphrase-file', pass()], 'backup-not-tether', 2, /ca\.crt is not a tether backup; pass a file written by `tether manager backup`/],
    ['a newer backup version', () => [variant('newer.tbk', newerVersion), '--passphrase-file', pass()], 'backup-version-too-new', 4, /newer\.tbk was written by a newer tether: format version 2; restore it with the tether version that wrote it/],
    ['no such file', () => [path.join(tempDir(), 'none.tbk'), '--passphrase-file', pass()], 'backup-not-found', 3, /cannot read the backup .*none\.tbk \(ENOENT\)/],
  ]

  for (const [label, args, code, exitCode, message] of cases) {
    it(label, async () => {
      const parent = tempDir()
      const home = path.join(parent, 'manager')
      const before = snapshot(parent)
      const result = await tether(['manager', 'restore', ...args(), '--home', home])
      expect(result.exitCode, result.stderr).toBe(exitCode)
      expect(result.stderr).toMatch(message)
      expect(result.stderr).toMatch(/nothing was written/)
      expectNoPassphrase(result.stdout, result.stderr)
      expect(json(await tether(['manager', 'restore', ...args(), '--home', home, '--json'])).error).toMatchObject({code, exitCode})
      expect(snapshot(parent)).toEqual(before)
      expect(fs.readdirSync(parent)).toEqual([])
    })
  }

  it('an initialized home is refused, then replaced only with --force confirmed by --yes', async () => {
    const other = await initManager(tempDir())
    const before = snapshot(other.home)
    const refused = await tether(['manager', 'restore', file, '--home', other.home, '--passphrase-file', pass()])
    expect(refused.exitCode).toBe(4)
    expect(refused.stderr).toContain(`the manager home ${other.home} is already initialized; restore into a new directory with --home, or pass --force --yes`)
    const unconfirmed = await tether(['manager', 'restore', file, '--home', other.home, '--passphrase-file', pass(), '--force'])
    expect(unconfirmed.exitCode).toBe(2)
    expect(unconfirmed.stderr).toContain('needs confirmation and there is no terminal to ask on; pass --yes')
    // Damaged backups are refused before anything is replaced, forced or not.
    const cut = variant('cut-force.tbk', (b) => b.subarray(0, 100))
    expect((await tether(['manager', 'restore', cut, '--home', other.home, '--passphrase-file', pass(), '--force', '--yes'])).exitCode).toBe(2)
    expect(snapshot(other.home)).toEqual(before)

    const replaced = await tether(['manager', 'restore', file, '--home', other.home, '--passphrase-file', pass(), '--force', '--yes', '--json'])
    expect(replaced.exitCode, replaced.stderr).toBe(0)
    const expected = json(await tether(['manager', 'show', '--json'], source.env))
    expect(json(await tether(['manager', 'show', '--json'], other.env))).toMatchObject({managerGuid: expected.managerGuid, ca: {sha256: expected.ca.sha256}})
    expect(fs.readdirSync(path.dirname(other.home))).toEqual(['manager'])
  })

  it('a directory that is not a manager home is refused', async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine')
    const result = await tether(['manager', 'restore', file, '--home', dir, '--passphrase-file', pass(), '--json'])
    expect(json(result).error).toMatchObject({code: 'home-not-empty', exitCode: 4})
    expect(fs.readdirSync(dir)).toEqual(['notes.txt'])
  })

  it('the passphrase is never taken from a flag; without a file and a terminal the command names --passphrase-file', async () => {
    const out = path.join(tempDir(), 'b.tbk')
    for (const args of [['manager', 'backup', '--output', out], ['manager', 'restore', file, '--home', path.join(tempDir(), 'm')]]) {
      const result = await tether(args, source.env)
      expect(result.exitCode, args.join(' ')).toBe(2)
      expect(result.stderr).toContain('a backup passphrase is needed and there is no terminal to ask on; pass --passphrase-file FILE')
    }

    expect((await tether(['manager', 'backup', '--output', out, '--passphrase', PASSPHRASE], source.env)).stderr).toMatch(/Nonexistent flag: --passphrase/)
    expect(fs.existsSync(out)).toBe(false)
  })

  it('other files of the home come back with their modes; temporaries and locks are left out', async () => {
    const extra = await initManager(tempDir())
    fs.writeFileSync(path.join(extra.home, 'manager.previous.crt'), 'previous certificate', {mode: 0o644})
    fs.writeFileSync(path.join(extra.home, 'binding.key'), 'a key', {mode: 0o600})
    fs.writeFileSync(path.join(extra.home, '.manager.crt.123.tmp'), 'half-written')
    fs.writeFileSync(path.join(extra.home, 'manager.lock'), '')
    const out = path.join(tempDir(), 'extra.tbk')
    const made = json(await tether(['manager', 'backup', '--output', out, '--passphrase-file', pass(), '--json'], extra.env))
    expect(made.files).toEqual(['ca.key', 'ca.crt', 'manager.key', 'manager.crt', 'binding.key', 'manager.previous.crt', 'tether.db'])
    const home = path.join(tempDir(), 'restored')
    expect((await tether(['manager', 'restore', out, '--home', home, '--passphrase-file', pass()])).exitCode).toBe(0)
    expect(fs.readdirSync(home).sort()).toEqual(['binding.key', 'ca.crt', 'ca.key', 'manager.crt', 'manager.key', 'manager.previous.crt', 'tether.db'])
    expect(fs.readFileSync(path.join(home, 'manager.previous.crt'), 'utf8')).toBe('previous certificate')
    expect([mode(path.join(home, 'manager.previous.crt')), mode(path.join(home, 'binding.key')), mode(path.join(home, 'ca.crt'))]).toEqual([0o644, 0o600, 0o644])
  })

  it('backup refuses a short passphrase, an output inside the home, and a missing home', async () => {
    const out = path.join(tempDir(), 'b.tbk')
    const short = json(await tether(['manager', 'backup', '--output', out, '--passphrase-file', passphraseFile('short\n'), '--json'], source.env))
    expect(short.error).toMatchObject({code: 'passphrase-too-short', message: 'the passphrase has 5 characters; a backup needs at least 8'})
    const inside = json(await tether(['manager', 'backup', '--output', path.join(source.home, 'b.tbk'), '--passphrase-file', pass(), '--json'], source.env))
    expect(inside.error).toMatchObject({code: 'backup-inside-home', exitCode: 2})
    const missing = json(await tether(['manager', 'backup', '--output', out, '--passphrase-file', pass(), '--home', path.join(tempDir(), 'none'), '--json']))
    expect(missing.error).toMatchObject({code: 'home-not-initialized', exitCode: 3})
    expect(fs.existsSync(out)).toBe(false)
    expect(fs.readdirSync(source.home).sort()).toEqual(['ca.crt', 'ca.key', 'manager.crt', 'manager.key', 'tether.db'])
  })

  it('on a terminal: backup asks twice (and refuses two different answers), restore asks once; nothing is echoed', async () => {
    const out = path.join(tempDir(), 'tty.tbk')
    const ask = [{expect: 'Passphrase for the backup', answer: PASSPHRASE}]
    const mismatch = await onPty(['manager', 'backup', '--output', out, '--home', source.home], {answers: [...ask, {expect: 'The same passphrase again', answer: `${PASSPHRASE}!`}]})
    expect(mismatch.exitCode).toBe(2)
    expect(plain(mismatch.terminal)).toContain('the two passphrases typed differ')
    expect(fs.existsSync(out)).toBe(false)

    const made = await onPty(['manager', 'backup', '--output', out, '--home', source.home], {answers: [...ask, {expect: 'The same passphrase again', answer: PASSPHRASE}]})
    expect(made.exitCode, plain(made.terminal)).toBe(0)
    expect(plain(made.terminal)).toContain(`Wrote ${out}`)
    expectNoPassphrase(made.terminal)

    const home = path.join(tempDir(), 'manager')
    const restored = await onPty(['manager', 'restore', out, '--home', home], {answers: [{expect: 'Passphrase of the backup', answer: PASSPHRASE}]})
    expect(restored.exitCode, plain(restored.terminal)).toBe(0)
    expect(plain(restored.terminal)).toContain(`Restored manager home ${home}`)
    expectNoPassphrase(restored.terminal)

    // --force over a home: confirmed at the prompt first, declined leaves it as it was.
    const before = snapshot(home)
    const declined = await onPty(['manager', 'restore', out, '--home', home, '--force'], {answers: [{expect: '(y/N)', answer: 'n'}]})
    expect(declined.exitCode).toBe(4)
    expect(plain(declined.terminal)).toContain(`Replace the manager home ${home} with the backup ${out}: declined at the prompt; nothing was changed`)
    expect(snapshot(home)).toEqual(before)
    const replaced = await onPty(['manager', 'restore', out, '--home', home, '--force'], {answers: [{expect: '(y/N)', answer: 'y'}, {expect: 'Passphrase of the backup', answer: PASSPHRASE}]})
    expect(replaced.exitCode, plain(replaced.terminal)).toBe(0)
    expect(plain(replaced.terminal)).toContain(`Restored manager home ${home}`)
  })
})
