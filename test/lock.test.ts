import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'

import {ResultPromise, execa} from 'execa'
import {afterEach, describe, expect, it} from 'vitest'

import {DAEMON_LOCK} from '../src/agent/control.js'
import {connectTls} from '../src/channel/connect.js'
import {HttpSession} from '../src/channel/http-session.js'
import {DirLock, isLockFile} from '../src/platform/lock.js'
import {agent, boundDsaCore, newDsaCore, startAgent} from './agents.js'
import {BIN, ROOT, eventually, initManager, json, tempDir, tether} from './helpers.js'

const HOLDER = path.join(ROOT, 'test', 'fixtures', 'lock-holder.mjs')
const DSA_CORE_LOCK = DirLock.FILE_NAME

const started: ResultPromise[] = []
afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null) child.kill('SIGKILL')
    await child
  }
})

/** A lock-holder process (test/fixtures/lock-holder.mjs) on the built lock module. */
function holder(args: string[]): ResultPromise {
  const child = execa(process.execPath, [HOLDER, ...args], {reject: false, stdin: 'pipe', buffer: {stdout: false, stderr: true}})
  started.push(child)
  return child
}

/** Resolves once the holder says it holds the lock. */
function held(child: ResultPromise): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    readline.createInterface({input: child.stdout!}).on('line', (line) => line === 'held' && resolve())
    void child.then((result) => reject(new Error(`the holder exited ${result.exitCode} before holding: ${result.stderr}`)))
  })
}

async function release(child: ResultPromise): Promise<void> {
  child.stdin!.write('release\n')
  const result = await child
  expect(result.exitCode, String(result.stderr)).toBe(0)
}

/** Whether process `pid` has `file` open (Linux /proc; only symlinks are read, the lock file is never opened). */
function hasOpen(pid: number, file: string): boolean {
  const fds = `/proc/${pid}/fd`
  try {
    return fs.readdirSync(fds).some((fd) => {
      try {
        return fs.readlinkSync(path.join(fds, fd)) === file
      } catch {
        return false
      }
    })
  } catch {
    return false
  }
}

/**
 * Check a log of "enter PID" / "leave PID" lines: every holder's section is closed by its own
 * leave before anyone enters, except a killed holder's (its next line is someone's enter).
 */
function overlaps(lines: string[], killed: Set<string>): string[] {
  const problems: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const [what, pid] = lines[i].split(' ')
    if (what !== 'enter') continue
    const next = lines[i + 1]
    if (killed.has(pid)) {
      if (next !== undefined && !next.startsWith('enter ')) problems.push(`line ${i + 2}: "${next}" after killed holder ${pid} entered`)
    } else if (next !== `leave ${pid}`) {
      problems.push(`line ${i + 2}: "${next}" while ${pid} held the lock`)
    }
  }

  return problems
}

describe('the directory lock across processes', () => {
  it('never has two holders, even while holders are SIGKILLed mid-race; a killed holder frees it at once', async () => {
    const dir = tempDir()
    const log = path.join(dir, 'sections.log')
    fs.writeFileSync(log, '')
    const ROUNDS = 40
    const racers = Array.from({length: 4}, () => holder(['race', dir, 'race.lock', log, String(ROUNDS)]))
    const killed = new Set<string>()
    for (let i = 0; i < 3; i++) {
      const victim = holder(['victim', dir, 'race.lock', log])
      await held(victim)
      killed.add(String(victim.pid))
      victim.kill('SIGKILL')
      expect((await victim).signal).toBe('SIGKILL')
    }

    for (const racer of racers) expect((await racer).exitCode).toBe(0)
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n')
    expect(lines.filter((l) => l.startsWith('leave '))).toHaveLength(4 * ROUNDS)
    expect(lines.filter((l) => l.startsWith('enter '))).toHaveLength(4 * ROUNDS + 3)
    expect(overlaps(lines, killed)).toEqual([])
  })

  it('names its live holder; once the holder is SIGKILLed the lock is free at the first attempt', async () => {
    const dir = tempDir()
    const victim = holder(['victim', dir, DSA_CORE_LOCK, path.join(dir, 'log')])
    await held(victim)
    expect(DirLock.liveHolder(dir)).toEqual({pid: victim.pid})
    expect(() => DirLock.acquire(dir, {waitMs: 0, what: 'the test directory'})).toThrowError(`the test directory is locked by process ${victim.pid}`)
    victim.kill('SIGKILL')
    await victim
    // No takeover, no waiting: the OS dropped the dead process's lock.
    const lock = DirLock.acquire(dir, {waitMs: 0})
    expect(DirLock.liveHolder(dir)).toEqual({pid: process.pid})
    lock.release()
    expect(DirLock.liveHolder(dir)).toBeUndefined()
    expect(fs.statSync(path.join(dir, DSA_CORE_LOCK)).mode & 0o777).toBe(0o600)
    // The sidecar naming the holder goes with the lock; the lock file itself stays.
    expect(fs.readdirSync(dir).filter((name) => isLockFile(name))).toEqual([DSA_CORE_LOCK])
  })

  it('a lock file holding other data is a clear error, not a crash', () => {
    const dir = tempDir()
    const file = path.join(dir, 'odd.lock')
    fs.writeFileSync(file, '1234\n')
    expect(() => DirLock.acquire(dir, {file: 'odd.lock', waitMs: 0})).toThrow(expect.objectContaining({code: 'lock-file-damaged', message: `${file} is not a lock file: it holds other data`}))
  })

  it('excludes a second holder in the same process too, and waits for it without blocking the event loop', async () => {
    const dir = tempDir()
    const first = await DirLock.acquireAsync(dir)
    let ticks = 0
    const ticker = setInterval(() => ticks++, 5)
    let secondHeld = false
    const second = DirLock.acquireAsync(dir, {waitMs: 60_000}).then((lock) => {
      secondHeld = true
      return lock
    })
    await eventually(() => ticks >= 3, 10_000, 'timers running while the second waits')
    expect(secondHeld).toBe(false)
    first.release()
    ;(await second).release()
    clearInterval(ticker)
    await expect(DirLock.acquireAsync(dir, {waitMs: 0})).resolves.toBeInstanceOf(DirLock)
  })
})

describe('the agent and the dsa_core lock', () => {
  it('the running agent keeps serving while another process holds its dsa_core lock', async () => {
    const {env} = await initManager(tempDir())
    const dsaCore = newDsaCore()
    const a = await agent(dsaCore, {args: ['--log-format', 'json']})
    const marker = path.join(tempDir(), 'released')
    // The holder lets go by itself after 8 s (before the agent's 10 s wait ends): an agent that
    // blocked while waiting would only answer after that, with the marker written.
    const lockHolder = holder(['hold', dsaCore, DSA_CORE_LOCK, marker, '', '8000'])
    await held(lockHolder)
    // The activation reaches SetAgentCredentials, which needs the lock: the agent waits for it...
    const activation = tether(['manager', 'activate', a.address, '--json'], env)
    const waiting = await a.log.event((e) => e.event === 'waiting-for-lock', 'the agent waiting for the dsa_core lock')
    expect(waiting).toMatchObject({level: 'info', dsaCore, holderPid: lockHolder.pid})
    // ...and meanwhile answers another manager's request, before the holder lets go.
    const session = new HttpSession(await connectTls({host: '127.0.0.1', port: a.port, rejectUnauthorized: false}))
    const hostInfo = await session.call<{state: string}>('GetHostInfo')
    const releasedBeforeAnswer = fs.existsSync(marker)
    session.close()
    expect(hostInfo.body.state).toBe('unactivated')
    expect(releasedBeforeAnswer).toBe(false)
    await release(lockHolder)
    const activated = await activation
    expect(activated.exitCode, activated.stderr).toBe(0)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', dsaCore])).state).toBe('activated')
  })

  it('agent reset --unbind waits for the lock held by another process, then resets', async () => {
    const {env} = await initManager(tempDir())
    const dsaCore = await boundDsaCore(env)
    const binding = path.join(dsaCore, 'ds_agent_dsm.crt')
    const marker = path.join(tempDir(), 'released')
    const lockHolder = holder(['hold', dsaCore, DSA_CORE_LOCK, marker, binding])
    await held(lockHolder)
    // A bound agent: a plain dsa_control -r refuses it by design, --unbind is the explicit way.
    const reset = execa(process.execPath, [BIN.tether, 'agent', 'reset', '--unbind', '--yes'], {reject: false, env: {TETHER_DSA_CORE: dsaCore, NO_COLOR: '1'}})
    // It is waiting once it has the lock file open (and the holder still has the lock).
    await eventually(() => hasOpen(reset.pid!, fs.realpathSync(path.join(dsaCore, DSA_CORE_LOCK))), 30_000, 'agent reset trying for the lock')
    await release(lockHolder)
    const result = await reset
    expect(result.exitCode, String(result.stderr)).toBe(0)
    // The binding was still there when the holder let go: the reset waited for the lock.
    expect(JSON.parse(fs.readFileSync(marker, 'utf8'))).toEqual({released: true, watchedFileExisted: true})
    expect(fs.existsSync(binding)).toBe(false)
  })

  it('dsa_control -r gives up naming the holder when the lock stays held past its wait', async () => {
    const dsaCore = newDsaCore()
    fs.mkdirSync(dsaCore, {mode: 0o700})
    const lockHolder = holder(['hold', dsaCore, DSA_CORE_LOCK, path.join(tempDir(), 'released')])
    await held(lockHolder)
    const result = await execa(process.execPath, [BIN.dsa_control, '-r'], {reject: false, env: {TETHER_DSA_CORE: dsaCore, NO_COLOR: '1'}})
    expect(result.exitCode).toBe(4)
    expect(result.stderr).toContain(`the agent directory ${dsaCore} is locked by process ${lockHolder.pid}; wait for that process to finish, or stop it, then retry`)
    await release(lockHolder)
  })

  it('a SIGKILLed agent leaves no daemon lock behind: another starts on the same dsa_core at once', async () => {
    const dsaCore = newDsaCore()
    const first = await startAgent(dsaCore)
    expect(DirLock.liveHolder(dsaCore, DAEMON_LOCK)).toEqual({pid: first.child.pid})
    first.child.kill('SIGKILL')
    await first.child
    expect(DirLock.liveHolder(dsaCore, DAEMON_LOCK)).toBeUndefined()
    const second = await agent(dsaCore)
    expect(DirLock.liveHolder(dsaCore, DAEMON_LOCK)).toEqual({pid: second.child.pid})
  })
})
