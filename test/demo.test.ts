import {describe, expect, it} from 'vitest'

import {json, tether} from './helpers.js'

describe('tether demo (the main job)', () => {
  it('runs every step end to end and exits 0, with one JSON document', async () => {
    const result = await tether(['demo', '--json'])
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    const report = json(result)
    expect(report.ok).toBe(true)
    expect(report.steps.map((s: {ok: boolean}) => s.ok)).toEqual(Array(14).fill(true))
    const titles = report.steps.map((s: {title: string}) => s.title).join('\n')
    for (const part of ['Refuse a rogue manager', 'agent-initiated: dsa_control -a', 'PKCS#7 EnvelopedData', 'Heartbeat', 'Inspect the handshake', 'Deactivate', 'dsa_control -r']) {
      expect(titles).toContain(part)
    }
  })

  it('prints plain step lines when not on a terminal, and honours --agents', async () => {
    const result = await tether(['demo', '--agents', '4'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^\[ok\] 1\. Initialize the manager/m)
    expect(result.stdout).toContain('Start 4 agents on loopback')
    expect(result.stdout).toContain('Activate agent 3 (manager-initiated)')
    expect(result.stdout).toContain('Activate agent 4 (bound')
    expect(result.stdout).toContain('Demo complete: 15 steps behaved as expected.')
    expect(result.stdout).not.toContain('\u001B[')
  })

  it('refuses fewer than three agents with a usage error', async () => {
    const result = await tether(['demo', '--agents', '2'])
    expect(result.exitCode).toBe(2)
  })
})
