import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {AgentProcess, agent, newDsaCore} from './agents.js'
import {initManager, json, tempDir, tether} from './helpers.js'


/** A loopback port with nothing listening: bind, note the port, close. */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('bulk activation: tether manager activate --from FILE --concurrency N', () => {
  it('activates every reachable agent, reports each host, and one failure stops nothing', async () => {
    const {env} = await initManager(tempDir())
    const running: AgentProcess[] = []
    for (let i = 0; i < 3; i++) running.push(await agent(newDsaCore(), {hostname: `bulk-${i}.test`}))
    const dead = await closedPort()
    const file = path.join(tempDir(), 'hosts.txt')
    fs.writeFileSync(file, ['# fleet', running[0].address, `127.0.0.1:${dead}`, '', running[1].address, 'not a host:xx', running[2].address].join('\n'))

    const lines = await tether(['manager', 'activate', '--from', file, '--concurrency', '2'], env)
    const records = lines.stdout.trim().split('\n').map((l) => JSON.parse(l))
    const results = records.filter((r) => r.target)
    const summary = records.find((r) => r.summary).summary
    expect(results).toHaveLength(5)
    expect(summary).toEqual({total: 5, activated: 3, alreadyActivated: 0, failed: 2})
    expect(results.find((r) => r.target === `127.0.0.1:${dead}`).error.class).toBe('unreachable')
    expect(results.find((r) => r.target === 'not a host:xx').error.code).toBe('bad-address')
    // The first failure in file order decides the exit code: unreachable.
    expect(lines.exitCode).toBe(6)

    const again = await tether(['manager', 'activate', '--from', file, '--json'], env)
    const doc = json(again)
    expect(doc.summary).toEqual({total: 5, activated: 0, alreadyActivated: 3, failed: 2})
    expect(doc.results.map((r: {target: string}) => r.target)).toEqual([running[0].address, `127.0.0.1:${dead}`, running[1].address, 'not a host:xx', running[2].address])
  })

  it('needs a target or --from, and not both', async () => {
    const {env} = await initManager(tempDir())
    expect((await tether(['manager', 'activate'], env)).exitCode).toBe(2)
    const file = path.join(tempDir(), 'hosts.txt')
    fs.writeFileSync(file, '127.0.0.1:1\n')
    expect((await tether(['manager', 'activate', '127.0.0.1:1', '--from', file], env)).exitCode).toBe(2)
    fs.writeFileSync(file, '# nothing\n')
    const empty = await tether(['manager', 'activate', '--from', file], env)
    expect(empty.exitCode).toBe(2)
    expect(empty.stderr).toContain('lists no hosts')
  })
})
