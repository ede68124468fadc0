import fs from 'node:fs'
import path from 'node:path'
import tls from 'node:tls'

import {beforeAll, describe, expect, it} from 'vitest'

import {connectTls} from '../src/channel/connect.js'
import {HttpSession} from '../src/channel/http-session.js'
import {ManagerHome} from '../src/manager/home.js'
import {AgentProcess, ManagerProcess, agent, listener, newDsaCore} from './agents.js'
import {initManager, run, tempDir, tether} from './helpers.js'

const TOKEN = 's3cret token-value'

/** A TLS client that presents `cert` (or none) and waits until the agent drops it. */
function refusedClient(port: number, credentials: {cert?: string; key?: string} = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({host: '127.0.0.1', port, rejectUnauthorized: false, ...credentials})
    let local = ''
    socket.on('connect', () => {
      local = `127.0.0.1:${socket.localPort}`
    })
    socket.on('close', () => resolve(local))
    socket.on('error', () => undefined)
  })
}

/** Activate a running agent through dsa_control (agent-initiated, through the daemon) with the token. */
async function activateWithToken(a: AgentProcess, manager: ManagerProcess): Promise<void> {
  const result = await run('dsa_control', ['-a', manager.url, `token:${TOKEN}`, 'displayname:logged'], {TETHER_DSA_CORE: a.dsaCore})
  // The status line comes first of what dsa_control prints (the session lines follow it).
  expect(result.stdout.split('\n').find((line) => line.startsWith('HTTP Status:')), result.stderr).toBe('HTTP Status: 200 - OK')
}

describe('the agent daemon log', () => {
  let m: {home: string; env: Record<string, string>; process: ManagerProcess}
  let other: ReturnType<ManagerHome['loadCredentials']>
  beforeAll(async () => {
    const {home, env} = await initManager(tempDir())
    for (const [name, value] of [['activationToken', TOKEN], ['heartbeatIntervalSeconds', '1']]) {
      expect((await tether(['manager', 'settings', 'set', name, value], env)).exitCode).toBe(0)
    }

    m = {home, env, process: await listener(home, {args: ['--log-format', 'json']})}
    other = new ManagerHome((await initManager(tempDir())).home).loadCredentials()
  })

  it('json: refused handshakes, activation, heartbeats sent and failed, one object per line; the manager logs listening and stopped', async () => {
    const a = await agent(newDsaCore(), {hostname: 'json-log.test', args: ['--log-format', 'json', '--log-level', 'debug']})
    expect(await a.log.event((e) => e.event === 'listening', 'listening')).toMatchObject({level: 'info', port: a.port, state: 'unactivated', pid: a.child.pid})
    expect(await m.process.log.event((e) => e.event === 'listening', 'manager listening')).toMatchObject({level: 'info', port: m.process.port, pid: m.process.child.pid})

    await activateWithToken(a, m.process)
    expect(await a.log.event((e) => e.event === 'control-request', 'control request')).toMatchObject({op: 'activate', url: m.process.url})
    expect(await a.log.event((e) => e.event === 'activated', 'activation')).toMatchObject({level: 'info', managerAddress: `127.0.0.1:${m.process.port}`})
    expect(await a.log.event((e) => e.event === 'control-done', 'control outcome')).toMatchObject({op: 'activate', status: 200})

    // Activated: a client with another CA's certificate, or none, is refused in the handshake.
    const otherCaPeer = await refusedClient(a.port, {cert: other.managerCertPem, key: other.managerKeyPem})
    expect(await a.log.event((e) => e.event === 'handshake-refused' && e.peer === otherCaPeer, 'the other-CA refusal')).toMatchObject({level: 'warn', context: 'mutual', reason: 'unknown-ca'})
    const anonymousPeer = await refusedClient(a.port)
    expect(await a.log.event((e) => e.event === 'handshake-refused' && e.peer === anonymousPeer, 'the no-certificate refusal')).toMatchObject({level: 'warn', reason: 'no-client-certificate'})

    expect(await a.log.event((e) => e.event === 'heartbeat-sent', 'a heartbeat')).toMatchObject({level: 'debug', address: `127.0.0.1:${m.process.port}`})
    expect(await a.log.event((e) => e.event === 'handshake-accepted' && e.context === 'mutual', 'an accepted mutual handshake')).toMatchObject({level: 'debug', tlsRole: 'client'})
    await m.process.stop()
    expect(await m.process.log.event((e) => e.event === 'stopped', 'manager stopped')).toMatchObject({level: 'info', home: m.home})
    // A heartbeat in flight as the manager stops fails as connection-reset; the ones after it, refused.
    expect(await a.log.event((e) => e.event === 'heartbeat-failed' && e.reason !== 'connection-reset', 'a failed heartbeat')).toMatchObject({level: 'warn', reason: 'connection-refused', address: `127.0.0.1:${m.process.port}`})

    // Every line is one JSON object, and no secret went into any of them.
    await a.stop()
    for (const line of a.log.lines) expect(() => JSON.parse(line), line).not.toThrow()
    expect(a.log.events().at(-1)).toMatchObject({event: 'stopped'})
    noSecrets([...a.log.lines, ...m.process.log.lines], agentKey(a))
  })

  it('logfmt by default: the same events, greppable; a reset by another process and refused commands too', async () => {
    const restarted = await listener(m.home)
    const a = await agent(newDsaCore(), {hostname: 'logfmt.test'})
    await a.log.line((l) => /^ts=\S+ level=info event=listening host=127\.0\.0\.1 port=\d+ state=unactivated /.test(l), 'listening')
    await activateWithToken(a, restarted)
    await a.log.line((l) => l.includes(' level=info event=activated '), 'activation')
    const peer = await refusedClient(a.port)
    await a.log.line((l) => l.includes(' level=warn event=handshake-refused ') && l.includes(` peer=${peer} `) && l.includes(' reason=no-client-certificate'), 'the refusal')
    await restarted.stop()
    await a.log.line((l) => / level=warn event=heartbeat-failed .*reason=connection-refused/.test(l), 'a failed heartbeat')
    const key = agentKey(a)
    expect((await run('dsa_control', ['-r'], {TETHER_DSA_CORE: a.dsaCore})).exitCode).toBe(0)
    await a.log.line((l) => l.includes(' level=info event=reset-noticed from=activated to=unactivated'), 'the reset noticed')
    const session = new HttpSession(await connectTls({host: '127.0.0.1', port: a.port, rejectUnauthorized: false}))
    expect((await session.call('GetAgentEvents')).status).toBe(403)
    session.close()
    await a.log.line((l) => l.includes(' level=warn event=command-refused command=GetAgentEvents reason=requires-activation class=trust '), 'the refused command')
    // Info by default: no debug lines.
    expect(a.log.lines.filter((l) => l.includes(' level=debug '))).toEqual([])
    await a.stop()
    noSecrets([...a.log.lines, ...restarted.log.lines], key)
  })
})

function agentKey(a: AgentProcess): string {
  return fs.readFileSync(path.join(a.dsaCore, 'ds_agent.key'), 'utf8')
}

/** Neither the token nor any private key (PEM armour or the agent key's own base64) appears in the logs. */
function noSecrets(lines: string[], agentKeyPem: string): void {
  const text = lines.join('\n')
  expect(text.length).toBeGreaterThan(0)
  expect(text).not.toContain('s3cret')
  expect(text).not.toContain('token-value')
  expect(text).not.toContain('PRIVATE KEY')
  const keyBody = agentKeyPem.trim().split('\n').slice(1, -1)
  expect(keyBody.length).toBeGreaterThan(5)
  for (const line of keyBody) expect(text).not.toContain(line)
}
