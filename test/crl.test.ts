import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {watchCrl} from '../src/manager/crl-publish.js'
import {ManagerHome} from '../src/manager/home.js'
import {readCrl} from '../src/pki/crl.js'
import {formatDuration, parseDuration} from '../src/platform/duration.js'
import {createLogger} from '../src/platform/log.js'
import {LogWatch} from './agents.js'
import {BIN, eventually, initManager, json, openssl, tempDir, tether} from './helpers.js'
import {withStore} from './stores.js'

/** tether manager crl: what the CRL says, the PEM published to a file, and that file kept fresh. */

const mode = (file: string) => fs.statSync(file).mode & 0o777
const inode = (file: string) => fs.statSync(file).ino

/** Revoke a made-up certificate through the store, as a deactivation would; its serial. */
async function revokeOne(home: string): Promise<string> {
  const serial = crypto.randomBytes(8).toString('hex').toUpperCase().replace(/^0/, '1')
  const sha256 = crypto.randomBytes(32).toString('hex')
  await withStore(home, async (store) => {
    const now = new Date()
    await store.certificates.record({serial, sha256, subject: 'CN=revoked-for-test', notBefore: now.toISOString(), notAfter: now.toISOString(), pem: ''}, now)
    expect(await store.certificates.revoke(sha256, 'keyCompromise', now)).toBe(true)
  })
  return serial
}

describe('tether manager crl', () => {
  let home: string
  let env: Record<string, string>
  beforeAll(async () => {
    ;({home, env} = await initManager(tempDir()))
  })

  it('shows the CRL number, thisUpdate, nextUpdate and the revoked count, as openssl reads them', async () => {
    const shown = await tether(['manager', 'crl'], env)
    expect(shown.exitCode, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(/^CRL number:  \d+\nThis update: \d{4}-\d\d-\d\dT[\d:.]+Z\nNext update: \d{4}-\d\d-\d\dT[\d:.]+Z\nRevoked:     \d+ certificate\(s\)$/)

    const serial = await revokeOne(home)
    const document = json(await tether(['manager', 'crl', '--json'], env))
    const text = (await openssl(['crl', '-noout', '-text'], document.pem)).stdout
    expect(text).toContain(`Serial Number: ${serial}`)
    expect(document).toMatchObject({file: null, revokedCount: (text.match(/Serial Number:/g) ?? []).length, number: Number(/X509v3 CRL Number: *\n *(\d+)/.exec(text)![1])})
    expect(document.revoked.map((r: {serial: string}) => r.serial)).toContain(serial)
    expect(Date.parse(document.nextUpdate) - Date.parse(document.thisUpdate)).toBeGreaterThan(86_400_000)
    expect(new Date(document.thisUpdate)).toEqual(readCrl(document.pem).thisUpdate)
    expect(shown.stdout).toContain(`Revoked:     ${document.revokedCount - 1} certificate(s)`)
  })

  it('--pem prints the PEM for a pipe; --output writes it 0644, verifiable against the CA', async () => {
    const pem = await tether(['manager', 'crl', '--pem'], env)
    expect((await openssl(['crl', '-noout', '-crlnumber'], pem.stdout)).stdout).toMatch(/^crlNumber=/)

    const file = path.join(tempDir(), 'published', 'tether.crl')
    fs.mkdirSync(path.dirname(file))
    const written = await tether(['manager', 'crl', '--output', file], env)
    expect(written.exitCode, written.stderr).toBe(0)
    expect(written.stdout).toContain(`Wrote ${file}`)
    expect(mode(file)).toBe(0o644)
    const verified = await openssl(['crl', '-in', file, '-CAfile', path.join(home, 'ca.crt'), '-noout', '-verify'])
    expect(verified.stderr.trim()).toBe('verify OK')

    const unwritable = json(await tether(['manager', 'crl', '--output', path.join(tempDir(), 'no', 'such', 'dir', 'x.crl'), '--json'], env))
    expect(unwritable.error).toMatchObject({code: 'crl-unwritable', exitCode: 2})
  })

  it('durations: a number and a unit, or several; anything else is named', () => {
    expect([parseDuration('200ms', 'x'), parseDuration('90s', 'x'), parseDuration('1h30m', 'x'), parseDuration(' 7d ', 'x')]).toEqual([200, 90_000, 5_400_000, 604_800_000])
    expect([formatDuration(5_400_000), formatDuration(200), formatDuration(86_400_000 + 1000)]).toEqual(['1h30m', '200ms', '1d1s'])
    for (const text of ['', '1', 'h', '1x', '1h 30m', '-1s', '1.5h']) expect(() => parseDuration(text, '--interval'), text).toThrow(`--interval "${text}" is not a duration`)
  })

  it('--watch needs --output, and --interval a duration', async () => {
    expect((await tether(['manager', 'crl', '--watch'], env)).exitCode).toBe(2)
    const bad = json(await tether(['manager', 'crl', '--output', path.join(tempDir(), 'x.crl'), '--watch', '--interval', 'soon', '--json'], env))
    expect(bad.error).toMatchObject({code: 'bad-duration', message: '--interval "soon" is not a duration'})
    expect(json(await tether(['manager', 'crl', '--output', path.join(tempDir(), 'x.crl'), '--watch', '--interval', '5ms', '--json'], env)).error.code).toBe('bad-duration')
  })

  it('--watch rewrites the file only when the CRL changed, one log line each time, until SIGTERM', async () => {
    const file = path.join(tempDir(), 'tether.crl')
    const child = execa(process.execPath, [BIN.tether, 'manager', 'crl', '--home', home, '--output', file, '--watch', '--interval', '200ms', '--json', '--log-format', 'json', '--log-level', 'debug'], {
      env: {NO_COLOR: '1'},
      reject: false,
      buffer: {stdout: false, stderr: true},
    })
    const log = new LogWatch(child.stderr!)
    const ready = await new Promise<Record<string, any>>((resolve, reject) => {
      readline.createInterface({input: child.stdout!}).once('line', (line) => resolve(JSON.parse(line)))
      void child.then((result) => reject(new Error(`exited ${result.exitCode}: ${result.stderr}`)))
    })
    try {
      expect(ready).toMatchObject({event: 'watching', file, intervalMs: 200, pid: child.pid})
      const first = fs.readFileSync(file, 'utf8')
      expect(readCrl(first).number).toBe(BigInt(ready.number))
      const firstInode = inode(file)

      // Nothing changed: checked on every interval, the file left alone (the same inode: no rename over it).
      await eventually(() => log.events().filter((e) => e.event === 'crl-unchanged').length >= 3, 10_000, 'three unchanged checks')
      expect(inode(file)).toBe(firstInode)
      expect(fs.readFileSync(file, 'utf8')).toBe(first)
      expect(log.events().filter((e) => e.event === 'crl-written')).toHaveLength(1)

      // A revocation: the next check rewrites it, once, with the new number and serial.
      const serial = await revokeOne(home)
      const written = await log.event((e) => e.event === 'crl-written' && e.number === ready.number + 1, 'the rewrite after a revocation', 10_000)
      expect(written).toMatchObject({level: 'info', file, revokedCount: ready.revokedCount + 1})
      const second = fs.readFileSync(file, 'utf8')
      expect((await openssl(['crl', '-noout', '-text'], second)).stdout).toContain(`Serial Number: ${serial}`)
      expect(inode(file)).not.toBe(firstInode)
      expect(mode(file)).toBe(0o644)
      const unchangedBefore = log.events().filter((e) => e.event === 'crl-unchanged').length
      await eventually(() => log.events().filter((e) => e.event === 'crl-unchanged').length >= unchangedBefore + 2, 10_000, 'unchanged checks after the rewrite')
      expect(log.events().filter((e) => e.event === 'crl-written')).toHaveLength(2)
    } finally {
      child.kill('SIGTERM')
    }

    const result = await child
    expect(result.exitCode).toBe(0)
    expect(log.events().at(-1)).toMatchObject({event: 'stopped', file})
  })

  it('keeps the file fresh as the clock nears nextUpdate: re-issued and rewritten before it expires', async () => {
    let clock = new Date()
    const context = await new ManagerHome(home).open({now: () => clock})
    const lines: Array<Record<string, any>> = []
    const log = createLogger({format: 'json', level: 'debug', write: (line) => lines.push(JSON.parse(line))})
    const file = path.join(tempDir(), 'tether.crl')
    const watcher = await watchCrl(context, file, 20, log)
    try {
      const nextUpdate = Date.parse(watcher.first.crl.nextUpdate!)
      await eventually(() => lines.some((l) => l.event === 'crl-unchanged'), 5000, 'a check at the same time')
      // The clock jumps to a minute before nextUpdate: the next check must publish a CRL valid past it.
      clock = new Date(nextUpdate - 60_000)
      const written = await eventually(() => lines.find((l) => l.event === 'crl-written' && Date.parse(l.nextUpdate) > nextUpdate), 5000, 'a fresh CRL')
      expect(Date.parse(written.thisUpdate)).toBeLessThanOrEqual(clock.getTime())
      expect(readCrl(fs.readFileSync(file, 'utf8')).nextUpdate!.getTime()).toBe(Date.parse(written.nextUpdate))
    } finally {
      await watcher.stop()
      await context.close()
    }
  })
})
