import fs from 'node:fs'
import path from 'node:path'
import tls from 'node:tls'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {listEvents, openAgentDatabase, readHandshakes} from '../src/agent/database.js'
import {REFUSAL_EVENTS_PER_MINUTE} from '../src/agent/refusal-events.js'
import {AgentRuntime, AgentServer} from '../src/agent/server.js'
import type {ManagerContext} from '../src/manager/context.js'
import {initManagerHome} from '../src/manager/home.js'
import {activate} from '../src/manager/manager-initiated.js'
import {GateSummary, RateGate} from '../src/platform/rate-gate.js'
import {tempDir} from './helpers.js'

/**
 * A flood of refused handshakes must not fill the agent's database: every refusal stays in the
 * (bounded) handshake journal, but only a few per reason a minute become events, the rest one
 * `refusals-suppressed` event with their count.
 */

describe('the rate gate', () => {
  it('passes perWindow a window per key, counts the rest, and tells the count when the window ends', () => {
    let now = 0
    const summaries: GateSummary[] = []
    const gate = new RateGate({perWindow: 3, windowMs: 60_000, onSummary: (s) => summaries.push(s), now: () => now})
    const passed = Array.from({length: 10}, () => gate.pass('a')).filter(Boolean).length
    expect(passed).toBe(3)
    expect(gate.pass('b')).toBe(true)
    expect(summaries).toEqual([])
    now = 60_000
    // A new window: the old one's count is told first, and the key passes again.
    expect(gate.pass('a')).toBe(true)
    expect(summaries).toEqual([{key: 'a', suppressed: 7, from: new Date(0), to: new Date(0)}])
    gate.flush()
    expect(summaries).toHaveLength(1)
  })

  it('ends a window on its timer when the flood stops', async () => {
    const summaries: GateSummary[] = []
    const gate = new RateGate({perWindow: 1, windowMs: 100, onSummary: (s) => summaries.push(s)})
    gate.pass('x')
    gate.pass('x')
    gate.pass('x')
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect(summaries.map((s) => [s.key, s.suppressed])).toEqual([['x', 2]])
  })
})

describe('refused handshakes on the agent port', () => {
  let manager: ManagerContext & {close(): Promise<void>}
  let runtime: AgentRuntime
  let server: AgentServer
  let port: number

  beforeAll(async () => {
    manager = await (await initManagerHome(path.join(tempDir(), 'manager'), {hostnames: ['localhost']})).open()
    const parent = path.join(tempDir('tether-refusals-'), 'ds_agent')
    fs.mkdirSync(parent)
    runtime = await AgentRuntime.open({dsaCore: path.join(parent, 'dsa_core'), hostname: 'flooded.test', limits: {handshakeTimeoutMs: 10_000, idleTimeoutMs: 60_000, maxConnectionsPerSource: 64}})
    server = new AgentServer(runtime)
    port = (await server.listen(0, '127.0.0.1')).port
    await activate(manager, `127.0.0.1:${port}`)
  })

  afterAll(async () => {
    await manager.close()
  })

  it('3000 handshakes without a client certificate: 3000 journal entries, a bounded number of events, the count kept', async () => {
    const total = 3000
    const started = Date.now()
    let next = 0
    const refused = async () => {
      while (next < total) {
        next++
        await new Promise<void>((resolve) => {
          const socket = tls.connect({host: '127.0.0.1', port, rejectUnauthorized: false})
          socket.on('error', () => undefined)
          socket.once('close', () => resolve())
        })
      }
    }

    await Promise.all(Array.from({length: 16}, refused))
    const minutes = Math.ceil((Date.now() - started) / 60_000)
    const db = runtime.db
    const journal = readHandshakes(db).filter((row) => row.reason === 'no-client-certificate')
    expect(journal).toHaveLength(total)

    // Stopping the agent writes the counts of windows still open.
    await server.close()
    const reopened = await openAgentDatabase(runtime.store.dir)
    const events = listEvents(reopened).filter((e) => e.type.includes('refus'))
    reopened.close()
    const full = events.filter((e) => e.type === 'handshake-refused')
    const summaries = events.filter((e) => e.type === 'refusals-suppressed')
    expect(full.every((e) => e.detail.reason === 'no-client-certificate')).toBe(true)
    expect(full.length).toBeGreaterThanOrEqual(REFUSAL_EVENTS_PER_MINUTE)
    expect(full.length).toBeLessThanOrEqual(REFUSAL_EVENTS_PER_MINUTE * (minutes + 1))
    expect(summaries.length).toBeLessThanOrEqual(minutes + 1)
    expect(summaries[0].detail).toMatchObject({type: 'handshake-refused', reason: 'no-client-certificate'})
    const counted = summaries.reduce((sum, e) => sum + Number(e.detail.count), 0)
    expect(full.length + counted).toBe(total)
    expect(events).toHaveLength(full.length + summaries.length)
  }, 180_000)
})
