import fs from 'node:fs'
import path from 'node:path'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {parseDuration, parseSince} from '../src/platform/duration.js'
import {BIN, initManager, json, run, tempDir, tether} from './helpers.js'

/** Found by trying tether as a new user would: stdin, --since, a home this user cannot write. */
describe('command-line input', () => {
  let m: {home: string; env: Record<string, string>}
  beforeAll(async () => {
    m = await initManager(tempDir())
  })

  it('positional arguments never come from stdin: --from - reads the pipe, a pipe never becomes COMPUTER', async () => {
    // Port 9 on loopback: nothing listens, so each host fails fast; what matters is that the list was read.
    const bulk = await run('tether', ['manager', 'activate', '--from', '-'], m.env, {input: '127.0.0.1:9\n127.0.0.2:9\n'})
    const lines = bulk.stdout.trim().split('\n').map((line) => JSON.parse(line))
    expect(lines.filter((l) => l.target).map((l) => l.target)).toEqual(['127.0.0.1:9', '127.0.0.2:9'])
    const show = await run('tether', ['manager', 'computers', 'show'], m.env, {input: 'web-01\n'})
    expect(show.exitCode).toBe(2)
    expect(show.stderr).not.toContain('web-01')
    expect(show.stderr).toMatch(/computer/i)
  })

  it('one duration parser: manager events --since 1h works as handshake log --since 1h does', async () => {
    const events = await tether(['manager', 'events', '--since', '1h', '--json'], m.env)
    expect(events.exitCode).toBe(0)
    expect(json(events).events).toEqual([])
    const bad = await tether(['manager', 'events', '--since', 'yesterday'], m.env)
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toMatch(/"yesterday" is neither a time nor an age/)
    const now = new Date('2026-05-01T12:00:00Z')
    expect(parseSince('2h', now)).toBe('2026-05-01T10:00:00.000Z')
    expect(parseSince('2026-04-01T00:00:00Z', now)).toBe('2026-04-01T00:00:00.000Z')
    expect(() => parseDuration('300')).toThrow('duration "300" is not a duration')
    expect(parseDuration('15m')).toBe(900_000)
    expect(() => parseDuration('soon')).toThrow(/not a duration/)
  })

  it('a manager home this user cannot write is reported as a permission problem, never as damage to re-create', async () => {
    const dir = tempDir()
    const {home} = await initManager(dir)
    let result
    if (process.getuid?.() === 0) {
      // root writes anywhere: run as nobody against a home it may read but not write.
      fs.chmodSync(dir, 0o755)
      for (const name of fs.readdirSync(home)) fs.chmodSync(path.join(home, name), 0o644)
      fs.chmodSync(home, 0o555)
      const child = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN.tether, 'manager', 'computers', 'list', '--home', home, '--json'], {reject: false, env: {HOME: dir, NO_COLOR: '1'}})
      result = {exitCode: child.exitCode, stdout: String(child.stdout), stderr: String(child.stderr)}
    } else {
      fs.chmodSync(home, 0o555)
      result = await tether(['manager', 'computers', 'list', '--home', home, '--json'])
    }

    fs.chmodSync(home, 0o700)
    expect(result.exitCode).toBe(2)
    const error = json(result).error
    expect(error.code).toBe('database-permission')
    expect(error.message).toContain('EACCES')
    expect(JSON.stringify(error)).not.toMatch(/--force|corrupt|damaged;/)
  })
})
