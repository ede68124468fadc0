import {spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {isSameProcess, processStartTime} from '../src/platform/process-identity.js'
import {json, tempDir, tether} from './helpers.js'

/** Each test keeps the "last lab" pointer in its own state directory, never the user's. */
const stateEnv = () => ({XDG_STATE_HOME: tempDir('tether-state-')})

describe('tether lab up | status | down', () => {
  it('leaves a manager and activated agents running in a private directory it made, points the CLI at them, and stops them all', async () => {
    const env = stateEnv()
    const up = await tether(['lab', 'up', '--agents', '2', '--json'], env)
    expect(up.exitCode, up.stderr).toBe(0)
    const state = json(up)
    const dir: string = state.dir
    // Made by mkdtemp for this lab: not a fixed path another user could have made first.
    expect(path.dirname(dir)).toBe(os.tmpdir())
    expect(path.basename(dir)).toMatch(/^tether-lab-.{6}$/)
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
    expect(fs.statSync(dir).uid).toBe(process.getuid!())
    const pids = [state.manager.pid, ...state.agents.map((a: {pid: number}) => a.pid)]
    try {
      expect([state.manager, ...state.agents].every((p: {pid: number; started: string}) => isSameProcess(p.pid, p.started))).toBe(true)
      const human = await tether(['lab', 'status'], env)
      expect(human.stdout).toContain(`Lab in ${dir}: running`)

      // The printed environment drives the ordinary commands.
      const computers = json(await tether(['manager', 'computers', 'list', '--json'], state.env)).computers
      expect(computers.map((c: {hostname: string; state: string}) => [c.hostname, c.state])).toEqual([['lab-agent-1.test', 'activated'], ['lab-agent-2.test', 'activated']])
      expect(json(await tether(['agent', 'status', '--json'], state.env)).state).toBe('activated')
      const status = json(await tether(['lab', 'status', '--json'], env))
      expect(status.running).toBe(true)
      expect(status.computers.every((c: {presence: string}) => c.presence === 'online')).toBe(true)

      const twice = await tether(['lab', 'up'], env)
      expect(twice.exitCode).toBe(4)
      expect(twice.stderr).toContain(`a lab is already running in ${dir}`)
    } finally {
      const down = await tether(['lab', 'down', '--json'], env)
      expect(down.exitCode, down.stderr).toBe(0)
      expect(json(down).stopped.sort()).toEqual([...pids].sort())
    }

    expect(pids.some((pid: number) => processStartTime(pid) !== undefined)).toBe(false)
    expect(json(await tether(['lab', 'status', '--dir', dir, '--json'], env)).running).toBe(false)
    expect(fs.existsSync(path.join(dir, 'manager', 'ca.key'))).toBe(true)
    expect((await tether(['lab', 'down', '--purge'], env)).exitCode).toBe(0)
    expect(fs.existsSync(dir)).toBe(false)
    expect((await tether(['lab', 'status'], env)).stdout).toContain('No lab started')
    expect((await tether(['lab', 'down', '--dir', dir])).exitCode).toBe(3)
  })

  it('--dir: an existing directory others can write is refused before anything starts, and its lab.json is not trusted', async () => {
    const env = stateEnv()
    const open = path.join(tempDir(), 'shared-lab')
    fs.mkdirSync(open)
    fs.chmodSync(open, 0o777)
    const refused = await tether(['lab', 'up', '--dir', open, '--agents', '1'], env)
    expect(refused.exitCode).toBe(5)
    expect(refused.stderr).toContain(`the lab directory ${open} is writable by its group and every user (mode 0777)`)
    expect(refused.stderr).toContain(`chmod 700 ${open}`)
    expect(fs.readdirSync(open)).toEqual([])

    // lab.json names the pids to signal: read only from a private directory.
    fs.writeFileSync(path.join(open, 'lab.json'), JSON.stringify({dir: open, manager: {pid: process.pid}, agents: []}))
    expect((await tether(['lab', 'down', '--dir', open], env)).exitCode).toBe(5)
  })
})

describe('tether lab down signals only the processes the lab started', () => {
  /** A lab directory whose lab.json records `pid` with `started` as its start time. */
  function forgedLab(pid: number, started: string | undefined): string {
    const dir = fs.mkdtempSync(path.join(tempDir(), 'lab-'))
    const manager = {pid, started, port: 1, log: path.join(dir, 'manager.log'), home: path.join(dir, 'manager'), url: 'dsm://127.0.0.1:1/'}
    fs.writeFileSync(path.join(dir, 'lab.json'), JSON.stringify({dir, manager, agents: [], env: {}}))
    return dir
  }

  it('a recorded pid now held by another process (another start time) is left alone; the recorded process itself is stopped', async () => {
    const bystander = spawn('sleep', ['60'], {stdio: 'ignore'})
    const exited = new Promise((resolve) => bystander.once('exit', resolve))
    try {
      const pid = bystander.pid!
      const started = processStartTime(pid)
      expect(started).toMatch(/^\d+$/)
      expect(isSameProcess(pid, started)).toBe(true)

      const reused = await tether(['lab', 'down', '--dir', forgedLab(pid, String(Number(started) - 1)), '--json'], stateEnv())
      expect(reused.exitCode, reused.stderr).toBe(0)
      expect(json(reused).stopped).toEqual([])
      expect(isSameProcess(pid, started)).toBe(true)

      const unrecorded = await tether(['lab', 'down', '--dir', forgedLab(pid, undefined), '--json'], stateEnv())
      expect(json(unrecorded).stopped).toEqual([])
      expect(isSameProcess(pid, started)).toBe(true)

      const same = await tether(['lab', 'down', '--dir', forgedLab(pid, started), '--json'], stateEnv())
      expect(json(same).stopped).toEqual([pid])
      await exited
      expect(processStartTime(pid)).toBeUndefined()
    } finally {
      bystander.kill('SIGKILL')
    }
  })
})
