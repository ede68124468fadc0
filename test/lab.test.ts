import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {processAlive} from '../src/platform/fsutil.js'
import {json, tempDir, tether} from './helpers.js'

describe('tether lab up | status | down', () => {
  it('leaves a manager and activated agents running, points the CLI at them, and stops them all', async () => {
    const dir = path.join(tempDir(), 'lab')
    const up = await tether(['lab', 'up', '--dir', dir, '--agents', '2', '--json'])
    expect(up.exitCode, up.stderr).toBe(0)
    const state = json(up)
    const pids = [state.manager.pid, ...state.agents.map((a: {pid: number}) => a.pid)]
    try {
      expect(pids.every((pid: number) => processAlive(pid))).toBe(true)
      const human = await tether(['lab', 'status', '--dir', dir])
      expect(human.stdout).toContain('running')

      // The printed environment drives the ordinary commands.
      const computers = json(await tether(['manager', 'computers', 'list', '--json'], state.env)).computers
      expect(computers.map((c: {hostname: string; state: string}) => [c.hostname, c.state])).toEqual([['lab-agent-1.test', 'activated'], ['lab-agent-2.test', 'activated']])
      expect(json(await tether(['agent', 'status', '--json'], state.env)).state).toBe('activated')
      const status = json(await tether(['lab', 'status', '--dir', dir, '--json']))
      expect(status.running).toBe(true)
      expect(status.computers.every((c: {presence: string}) => c.presence === 'online')).toBe(true)

      const twice = await tether(['lab', 'up', '--dir', dir])
      expect(twice.exitCode).toBe(4)
      expect(twice.stderr).toContain('already running')
    } finally {
      const down = await tether(['lab', 'down', '--dir', dir, '--json'])
      expect(down.exitCode).toBe(0)
    }

    expect(pids.some((pid: number) => processAlive(pid))).toBe(false)
    expect(json(await tether(['lab', 'status', '--dir', dir, '--json'])).running).toBe(false)
    expect(fs.existsSync(path.join(dir, 'manager', 'ca.key'))).toBe(true)
    expect((await tether(['lab', 'down', '--dir', dir, '--purge'])).exitCode).toBe(0)
    expect(fs.existsSync(dir)).toBe(false)
    expect((await tether(['lab', 'down', '--dir', dir])).exitCode).toBe(3)
  })
})
