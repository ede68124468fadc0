import fs from 'node:fs'
import path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {DSA_FILES, DsaCore} from '../src/agent/store.js'
import {printable} from '../src/cli/render.js'
import {directoryProblem} from '../src/platform/private-dir.js'
import {newDsaCore} from './agents.js'
import {initManager, json, run, snapshot, tempDir, tether} from './helpers.js'
import {withStore} from './stores.js'

/**
 * What a local user who is not the agent's owner can plant: a change journal naming files outside
 * dsa_core, a dsa_core or manager home others can write, and hostnames with terminal escapes.
 */

/** A dsa_core made by tether itself (0700), with a planted change journal. */
function plantJournal(record: unknown): {dsaCore: string; root: string} {
  const dsaCore = newDsaCore()
  new DsaCore(dsaCore).ensureDir()
  fs.writeFileSync(path.join(dsaCore, DSA_FILES.journal), JSON.stringify(record))
  return {dsaCore, root: path.dirname(path.dirname(dsaCore))}
}

describe('journal replay accepts only dsa_core file names', () => {
  const outside = path.join(tempDir('tether-outside-'), 'planted')

  it.each([
    ['a relative path out of dsa_core', {version: 1, write: [{name: '../../x', content: 'owned', mode: 0o644}], remove: []}, '"../../x"'],
    ['an absolute path', {version: 1, write: [{name: outside, content: 'owned', mode: 0o644}], remove: []}, JSON.stringify(outside)],
    ['a removal outside dsa_core', {version: 1, write: [], remove: ['../victim']}, '"../victim"'],
    ['a valid name after a bad one', {version: 1, write: [{name: DSA_FILES.cert, content: 'x', mode: 0o644}, {name: '../y', content: 'owned', mode: 0o644}], remove: []}, '"../y"'],
    ['a mode with set-uid bits', {version: 1, write: [{name: DSA_FILES.cert, content: 'x', mode: 0o4755}], remove: []}, 'gives ds_agent.crt mode 4755'],
    ['something that is not a journal', {write: 'all'}, 'is not a tether change journal'],
  ])('%s: refused with a clear error by `agent status` and `dsa_control -r`, nothing written anywhere', async (_what, record, named) => {
    const {dsaCore, root} = plantJournal(record)
    fs.writeFileSync(path.join(path.dirname(dsaCore), 'victim'), 'keep me')
    const before = snapshot(root)
    const status = await tether(['agent', 'status', '--dsa-core', dsaCore])
    expect(status.exitCode).toBe(5)
    expect(status.stderr).toContain(`the agent change journal ${path.join(dsaCore, DSA_FILES.journal)}`)
    expect(status.stderr).toContain(named)
    expect(status.stderr).toContain('nothing was applied')
    const reset = await run('dsa_control', ['-r'], {TETHER_DSA_CORE: dsaCore})
    expect(reset.exitCode).toBe(5)
    expect(snapshot(root)).toEqual(before)
    expect(fs.existsSync(outside)).toBe(false)
  })

  it('a journal tether wrote (a crash between journal and apply) is still replayed', async () => {
    const {dsaCore} = plantJournal({version: 1, write: [{name: DSA_FILES.comm, content: '{"managerAddress":null,"mode":"bidirectional","heartbeatSeconds":60}', mode: 0o644}], remove: []})
    const status = await tether(['agent', 'status', '--dsa-core', dsaCore, '--json'])
    expect(status.exitCode, status.stderr).toBe(0)
    expect(fs.existsSync(path.join(dsaCore, DSA_FILES.journal))).toBe(false)
    expect(JSON.parse(fs.readFileSync(path.join(dsaCore, DSA_FILES.comm), 'utf8')).heartbeatSeconds).toBe(60)
  })
})

describe('a dsa_core or manager home others can write is refused', () => {
  it('the decision: group or world writable, or owned by someone else (root excepted)', () => {
    expect(directoryProblem({mode: 0o40700, uid: 1000}, 1000)).toBeUndefined()
    expect(directoryProblem({mode: 0o40755, uid: 0}, 1000)).toBeUndefined()
    expect(directoryProblem({mode: 0o40770, uid: 1000}, 1000)).toEqual({kind: 'writable', mode: 0o770})
    expect(directoryProblem({mode: 0o41777, uid: 0}, 0)).toEqual({kind: 'writable', mode: 0o1777})
    expect(directoryProblem({mode: 0o40700, uid: 1001}, 1000)).toEqual({kind: 'owner', uid: 1001, euid: 1000})
    expect(directoryProblem({mode: 0o40700, uid: 1001}, 0)).toEqual({kind: 'owner', uid: 1001, euid: 0})
  })

  it('a 0777 dsa_core: every command refuses it with the chmod that fixes it; fixed, it works', async () => {
    const dsaCore = newDsaCore()
    fs.mkdirSync(dsaCore)
    fs.chmodSync(dsaCore, 0o777)
    for (const args of [['agent', 'status'], ['agent', 'reset', '--yes'], ['agent', 'start', '--port', '0']]) {
      const result = await tether([...args, '--dsa-core', dsaCore])
      expect(result.exitCode, args.join(' ')).toBe(5)
      expect(result.stderr).toContain(`the agent directory ${dsaCore} is writable by its group and every user (mode 0777)`)
      expect(result.stderr).toContain(`chmod 700 ${dsaCore}`)
    }

    fs.chmodSync(dsaCore, 0o700)
    expect((await tether(['agent', 'status', '--dsa-core', dsaCore])).exitCode).toBe(0)
  })

  it('a dsa_core owned by another user: refused with the chown that fixes it', async () => {
    // CI runs as root, which may give the directory away; the decision itself is tested above for everyone.
    const dsaCore = newDsaCore()
    fs.mkdirSync(dsaCore, {mode: 0o700})
    fs.chownSync(dsaCore, 65_534, 65_534)
    const result = await tether(['agent', 'status', '--dsa-core', dsaCore])
    expect(result.exitCode).toBe(5)
    expect(result.stderr).toContain(`is owned by uid 65534, not by root (uid 0)`)
    expect(result.stderr).toContain(`chown -R root ${dsaCore}`)
  })

  it('a group-writable manager home: refused before any key or the registry is read', async () => {
    const {home, env} = await initManager(tempDir())
    expect(fs.statSync(home).mode & 0o777).toBe(0o700)
    expect((await tether(['manager', 'show'], env)).exitCode).toBe(0)
    fs.chmodSync(home, 0o770)
    for (const args of [['manager', 'show'], ['manager', 'computers', 'list'], ['manager', 'export-cert', '--output', path.join(tempDir(), 'ds_agent_dsm.crt')]]) {
      const result = await tether(args, env)
      expect(result.exitCode, args.join(' ')).toBe(5)
      expect(result.stderr).toContain(`the manager home ${home} is writable by its group (mode 0770)`)
      expect(result.stderr).toContain(`chmod 700 ${home}`)
    }
  })
})

describe('human output shows what agents chose printable', () => {
  it('control characters and bidi marks are shown escaped; plain text is untouched', () => {
    expect(printable('web-01.example')).toBe('web-01.example')
    expect(printable('本番 サーバー')).toBe('本番 サーバー')
    expect(printable('x\u001b[2Jy')).toBe('x\\u001b[2Jy')
    expect(printable('a\nb\tc\rd\u0000')).toBe('a\\u000ab\\u0009c\\u000dd\\u0000')
    expect(printable('\u009b31m\u202egnp.exe')).toBe('\\u009b31m\\u202egnp.exe')
  })

  let env: Record<string, string>
  const evil = 'db-prod-01\u001b[2J\u001b]0;owned\u0007\u202e'
  beforeAll(async () => {
    let home: string
    ;({home, env} = await initManager(tempDir()))
    await withStore(home, async (store) => {
      const computer = await store.computers.recordActivation({guid: '5F0E6C3A-0000-4000-8000-000000000001', hostname: evil, displayName: `shown\u001b[31m`, mode: 'bidirectional', hostInfo: {}, certSerial: '01', certSha256: 'AA'}, new Date())
      await store.events.store(computer.id, {instance: 'i', events: [{id: 1, at: new Date().toISOString(), type: 'handshake-refused\u001b[1A', detail: {detail: 'peer said \u009b2J'}}]}, new Date())
    })
  })

  it('manager computers list, computers show and events: no control character reaches the terminal; --json keeps the exact value', async () => {
    for (const args of [['manager', 'computers', 'list'], ['manager', 'computers', 'show', '1'], ['manager', 'events']]) {
      const human = await tether(args, env)
      expect(human.exitCode, human.stderr).toBe(0)
      expect(human.stdout, args.join(' ')).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/)
    }

    expect((await tether(['manager', 'computers', 'list'], env)).stdout).toContain('db-prod-01\\u001b[2J\\u001b]0;owned\\u0007\\u202e (shown\\u001b[31m)')
    expect((await tether(['manager', 'events'], env)).stdout).toContain('handshake-refused\\u001b[1A')
    expect(json(await tether(['manager', 'computers', 'list', '--json'], env)).computers[0].hostname).toBe(evil)
    expect(json(await tether(['manager', 'events', '--json'], env)).events[0].detail.detail).toBe('peer said \u009b2J')
  })
})
