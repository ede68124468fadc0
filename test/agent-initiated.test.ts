import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import tls from 'node:tls'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DAEMON_LOCK} from '../src/agent/control.js'
import {ManagerHome} from '../src/manager/home.js'
import {generateRsaKeyPair} from '../src/pki/keys.js'
import {issueCertificate} from '../src/pki/x509.js'
import {DirLock} from '../src/platform/lock.js'
import {agent, managerWithListener, newDsaCore, startAgent} from './agents.js'
import {CliResult, eventually, initManager, json, run, tempDir, tether} from './helpers.js'
import {agentJournal, managerJournal, withStore} from './stores.js'

/** dsa_control as a provisioning script runs it, with no agent daemon unless one was started. */
function dsaControl(dsaCore: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return run('dsa_control', args, {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'web-01.test', ...env})
}

/** The classic status line among what dsa_control printed (the session lines follow it). */
function statusOf(result: CliResult): string | undefined {
  return result.stdout.split('\n').find((line) => line.startsWith('HTTP Status:'))
}

/** Read through `read` until `done` holds (a wait on state, not on time; the timeout only bounds it). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last read ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function computers(home: string) {
  return withStore(home, (store) => store.computers.list())
}

describe('agent-initiated activation through dsa_control', () => {
  let m: Awaited<ReturnType<typeof managerWithListener>>
  let tenantId: string
  beforeAll(async () => {
    m = await managerWithListener()
    tenantId = json(await tether(['manager', 'show', '--json'], m.env)).tenantId
  })

  it('reset then activate right after install, no daemon: HTTP Status 200, recorded with non-ASCII values intact', async () => {
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-r'])).exitCode).toBe(0)
    const result = await dsaControl(dsaCore, ['-a', m.process.url, 'group:本番 サーバー', 'displayname:web 01', 'description:front: tier', 'policyid:4', `tenantID:${tenantId}`])
    expect(statusOf(result)).toBe('HTTP Status: 200 - OK')
    expect(result.exitCode).toBe(0)
    const status = json(await tether(['agent', 'status', '--json', '--dsa-core', dsaCore]))
    expect(status.state).toBe('activated')
    const recorded = (await computers(m.home)).find((c) => c.certSha256 === status.certificateHash.sha256)
    // No policy 4 on this manager: activated without a policy, and it says so.
    expect(recorded).toMatchObject({hostname: 'web-01.test', displayName: 'web 01', group: '本番 サーバー', description: 'front: tier', policy: null, state: 'activated'})
    expect(result.stderr).toContain('Warning: policy id 4 not found')
    // The agent remembers the manager it dialled, for heartbeats.
    expect(JSON.parse(fs.readFileSync(path.join(dsaCore, 'ds_agent.comm.json'), 'utf8')).managerAddress).toBe(`127.0.0.1:${m.process.port}`)
  })

  it('an activated agent refuses and says to reset first; a bound agent refuses naming the bound manager', async () => {
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', m.process.url])).exitCode).toBe(0)
    const again = await dsaControl(dsaCore, ['-a', m.process.url])
    expect(again.exitCode).toBe(4)
    expect(statusOf(again)).toBe('HTTP Status: 403 - Forbidden - reset agent first')
    expect(again.stderr).toMatch(/already activated; reset it first/)

    const bound = newDsaCore()
    const file = path.join(tempDir(), 'ds_agent_dsm.crt')
    await run('dsm_c', ['-action', 'exportdsmcert', '-output', file], m.env)
    expect((await tether(['agent', 'bind', file, '--dsa-core', bound])).exitCode).toBe(0)
    const fp = json(await tether(['manager', 'show', '--json'], m.env)).manager.sha256
    const refused = await dsaControl(bound, ['-a', m.process.url])
    // The exit code follows the status line (403: refused).
    expect(refused.exitCode).toBe(4)
    expect(statusOf(refused)).toBe('HTTP Status: 403 - Forbidden')
    expect(refused.stderr).toContain(`bound to the manager with certificate SHA-256 ${fp} (pre-activated); agent-initiated activation is refused by design`)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', bound])).state).toBe('pre-activated')
  })

  it('goes through the running agent when there is one, which switches context without a restart', async () => {
    const dsaCore = newDsaCore()
    const daemon = await agent(dsaCore, {hostname: 'daemon.test'})
    const result = await dsaControl(dsaCore, ['-a', m.process.url, 'displayname:via daemon'])
    expect(statusOf(result)).toBe('HTTP Status: 200 - OK')
    // The hostname the daemon reports was used, not the one-shot environment's.
    expect((await computers(m.home)).find((c) => c.displayName === 'via daemon')?.hostname).toBe('daemon.test')
    const certificate = await new Promise<string | undefined>((resolve, reject) => {
      const socket = tls.connect({host: '127.0.0.1', port: daemon.port, rejectUnauthorized: false}, () => {
        resolve(socket.getPeerX509Certificate()?.subject)
        socket.destroy()
      })
      socket.on('error', reject)
    })
    expect(certificate).toContain('OU=agent')
  })

  it('rejects malformed URLs and unknown keys with usage errors', async () => {
    const dsaCore = newDsaCore()
    for (const args of [['-a', 'https://127.0.0.1:4120/'], ['-a'], ['-a', 'dsm://127.0.0.1:99999/']]) {
      const result = await dsaControl(dsaCore, args)
      expect(result.exitCode, args.join(' ')).toBe(2)
    }

    expect(fs.existsSync(path.join(dsaCore, 'ds_agent.key'))).toBe(false)
    // An unknown key is a warning, not a failure (issue 13): the activation goes on.
    const unknown = await dsaControl(dsaCore, ['-a', m.process.url, 'color:blue', '--max-dsm-retries', '0'])
    expect(unknown.exitCode).toBe(0)
    expect(unknown.stderr).toContain('Warning: unknown keyword "color:" ignored')
  })
})

describe('settings that govern agent-initiated activation', () => {
  let m: Awaited<ReturnType<typeof managerWithListener>>
  beforeAll(async () => {
    m = await managerWithListener()
  })

  async function set(name: string, value: string): Promise<void> {
    const result = await run('dsm_c', ['-action', 'changesetting', '-name', name, '-Value', value], m.env)
    expect(result.exitCode, result.stderr).toBe(0)
  }

  async function refused(args: string[], status: string, message: RegExp, env: Record<string, string> = {}): Promise<string> {
    const dsaCore = newDsaCore()
    const result = await dsaControl(dsaCore, ['-a', m.process.url, ...args], env)
    expect(statusOf(result)).toBe(status)
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(message)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', dsaCore])).state).toBe('unactivated')
    return dsaCore
  }

  it('off: refused, and the classic key turns it back on', async () => {
    await set('settings.configuration.agentInitiatedActivation', '0')
    await refused([], 'HTTP Status: 403 - Forbidden', /agent-initiated activation is turned off/)
    await set('settings.configuration.agentInitiatedActivation', '1')
    const view = json(await run('dsm_c', ['-action', 'viewsetting', '-name', 'settings.configuration.agentInitiatedActivation', '--json'], m.env))
    expect(view).toMatchObject({name: 'agentInitiatedActivation', value: 'any', classicValue: '1'})
  })

  it('a required token: missing and wrong are refused, right is accepted; the token is never stored', async () => {
    await set('activationToken', 's3cret value')
    await refused([], 'HTTP Status: 401 - Unauthorized', /requires an activation token/)
    await refused(['token:nope'], 'HTTP Status: 401 - Unauthorized', /activation token is wrong/)
    const dsaCore = newDsaCore()
    const ok = await dsaControl(dsaCore, ['-a', m.process.url, 'token:s3cret value', 'hostname:tokened.test'])
    expect(statusOf(ok)).toBe('HTTP Status: 200 - OK')
    const stored = JSON.stringify(await computers(m.home)) + JSON.stringify(await managerJournal(m.home)) + JSON.stringify(await withStore(m.home, (store) => store.events.list({})))
    expect(stored).not.toContain('s3cret')
    const shown = await tether(['manager', 'settings', 'get', 'activationToken'], m.env)
    expect(shown.stdout).toContain('(set)')
    expect(shown.stdout).not.toContain('s3cret')
    await set('activationToken', '')
  })

  it('a tenant ID that is not this manager\'s is refused', async () => {
    await refused(['tenantID:00000000-0000-0000-0000-000000000000'], 'HTTP Status: 403 - Forbidden', /is not this manager's tenant/)
  })

  it('duplicate names: refuse (409), activate as new, or reactivate the existing computer', async () => {
    const first = newDsaCore()
    expect((await dsaControl(first, ['-a', m.process.url, 'hostname:dup.test'])).exitCode).toBe(0)
    await set('settings.configuration.agentInitiatedActivationActiveHost', '1')
    await refused(['hostname:dup.test'], 'HTTP Status: 409 - Conflict', /a computer named dup.test already exists/)
    await set('settings.configuration.agentInitiatedActivationActiveHost', '2')
    expect((await dsaControl(newDsaCore(), ['-a', m.process.url, 'hostname:dup.test'])).exitCode).toBe(0)
    expect((await computers(m.home)).filter((c) => c.hostname === 'dup.test')).toHaveLength(2)
    await set('settings.configuration.agentInitiatedActivationActiveHost', '3')
    expect((await dsaControl(newDsaCore(), ['-a', m.process.url, 'hostname:dup.test'])).exitCode).toBe(0)
    expect((await computers(m.home)).filter((c) => c.hostname === 'dup.test')).toHaveLength(2)
  })

  it('known computers only, and agent-supplied hostnames can be ignored', async () => {
    await set('settings.configuration.agentInitiatedActivation', '2')
    await refused(['hostname:stranger.test'], 'HTTP Status: 403 - Forbidden', /no computer named stranger.test is known/)
    await set('settings.configuration.agentInitiatedActivation', '1')
    await set('settings.configuration.agentInitiatedActivationHostname', 'false')
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', m.process.url, 'hostname:chosen.test', 'displayname:no-name-choice'])).exitCode).toBe(0)
    expect((await computers(m.home)).find((c) => c.displayName === 'no-name-choice')?.hostname).toBe('web-01.test')
    await set('settings.configuration.agentInitiatedActivationHostname', 'true')
  })

  it("clock skew beyond the allowed maximum is refused (the agent's clock simulated)", async () => {
    await refused([], 'HTTP Status: 403 - Forbidden', /clock is 25.0 hours ahead of the manager's \(allowed: 24.0 hours\)/, {TETHER_AGENT_CLOCK_OFFSET: String(25 * 3600)})
    await set('maxClockSkewSeconds', String(26 * 3600))
    expect((await dsaControl(newDsaCore(), ['-a', m.process.url, 'hostname:skewed.test'], {TETHER_AGENT_CLOCK_OFFSET: String(25 * 3600)})).exitCode).toBe(0)
  })

  it('settings are typed: unknown names and bad values are errors that say what is expected', async () => {
    const unknown = await run('dsm_c', ['-action', 'changesetting', '-name', 'settings.configuration.nope', '-value', '1'], m.env)
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr).toMatch(/unknown setting "settings.configuration.nope"; known settings: agentInitiatedActivation/)
    const bad = await run('dsm_c', ['-action', 'changesetting', '-name', 'settings.configuration.agentInitiatedActivation', '-value', '7'], m.env)
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('expected 0 (off), 1 (any), 2 (known)')
    const minutes = await run('dsm_c', ['-action', 'changesetting', '-name', 'settings.configuration.defaultHeartbeatPeriod', '-value', '1'], m.env)
    expect(minutes.exitCode).toBe(0)
    expect(json(await tether(['manager', 'settings', 'get', 'heartbeatIntervalSeconds', '--json'], m.env)).value).toBe(60)
    for (const [name, value] of [['settings.configuration.allowReactivateClonedVM', 'true'], ['settings.configuration.allowReactivateUnknownVM', 'true']]) {
      expect((await run('dsm_c', ['-action', 'changesetting', '-name', name, '-value', value], m.env)).exitCode).toBe(0)
    }

    const listed = json(await tether(['manager', 'settings', 'list', '--json'], m.env)).settings
    expect(listed.find((s: {name: string}) => s.name === 'allowReactivateCloned').value).toBe(true)
  })
})

describe('heartbeats', () => {
  it('a running agent heartbeats; missing heartbeats shows it offline; the next brings it back', async () => {
    const m = await managerWithListener()
    for (const [name, value] of [['heartbeatIntervalSeconds', '1'], ['missedHeartbeats', '2']]) {
      expect((await tether(['manager', 'settings', 'set', name, value], m.env)).exitCode).toBe(0)
    }

    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', m.process.url])).exitCode).toBe(0)
    // Presence is derived when read (online until lastSeenAt + interval * missed), so nothing here
    // waits for a fixed time or expects a read to land inside a window: it waits for the events
    // (heartbeats logged by the agent, registry state read through the CLI) and checks the record.
    const presence = async () => json(await tether(['manager', 'computers', 'show', 'web-01.test', '--json'], m.env))
    const window = (shown: Record<string, any>) => Date.parse(shown.offlineAfter) - Date.parse(shown.lastSeenAt)
    const firstSeen = (await presence()).lastSeenAt
    let daemon = await agent(dsaCore, {hostname: 'web-01.test', args: ['--log-format', 'json', '--log-level', 'debug']})
    await daemon.log.event((e) => e.event === 'heartbeat-sent', 'a heartbeat from the running agent')
    // While it runs it keeps heartbeating, so a read finds it online with a contact newer than activation.
    const online = await until(presence, (shown) => shown.presence === 'online' && shown.lastSeenAt > firstSeen, 'online through heartbeats')
    expect(window(online)).toBe(2000)

    // Stopped: no more heartbeats; after two missed ones it reads offline, its last contact unchanged.
    await daemon.stop()
    const offline = await until(presence, (shown) => shown.presence === 'offline', 'offline after missed heartbeats')
    expect(offline.lastSeenAt >= online.lastSeenAt).toBe(true)
    expect(Date.parse(offline.offlineAfter)).toBe(Date.parse(offline.lastSeenAt) + 2000)
    expect((await presence()).lastSeenAt).toBe(offline.lastSeenAt)

    // dsa_control -m with no daemon: one heartbeat brings it back, i.e. the registry records a new
    // contact and the computer is online from it for the next two intervals.
    const before = new Date().toISOString()
    const manual = await dsaControl(dsaCore, ['-m'])
    expect(manual.exitCode, manual.stderr).toBe(0)
    const back = await presence()
    expect(back.lastSeenAt > offline.lastSeenAt).toBe(true)
    expect(back.lastSeenAt >= before).toBe(true)
    expect(window(back)).toBe(2000)

    // And the restarted daemon keeps it online, and answers dsa_control -m itself.
    daemon = await agent(dsaCore, {hostname: 'web-01.test'})
    await until(presence, (shown) => shown.presence === 'online' && shown.lastSeenAt > back.lastSeenAt, 'online again through the daemon')
    const viaDaemon = await dsaControl(dsaCore, ['-m', '--json'])
    expect(json(viaDaemon).address).toBe(`127.0.0.1:${m.process.port}`)
  })

  it('the reversed connection refuses an agent certificate from another CA and a rogue certificate', async () => {
    const m = await managerWithListener()
    const other = await initManager(tempDir())
    const otherCreds = new ManagerHome(other.home).loadCredentials()
    const keys = await generateRsaKeyPair()
    const rogue = await issueCertificate({profile: 'agent', subject: {commonName: 'rogue'}, publicKeyPem: keys.publicKeyPem, signerKeyPem: keys.privateKeyPem, validityDays: 30})
    const otherCaAgent = await issueCertificate({profile: 'agent', subject: {commonName: 'other-ca-agent'}, publicKeyPem: keys.publicKeyPem, issuerCertPem: otherCreds.caCertPem, signerKeyPem: otherCreds.caKeyPem, validityDays: 30})
    for (const [label, cert, reason] of [['other CA', otherCaAgent, 'unknown-ca'], ['rogue', rogue, 'self-signed']] as const) {
      // Pose as an agent: TLS client, then HTTP server waiting for the manager's requests.
      let requests = 0
      const closed = await new Promise<boolean>((resolve) => {
        const socket = tls.connect({host: '127.0.0.1', port: m.process.port, cert, key: keys.privateKeyPem, rejectUnauthorized: false}, () => {
          http.createServer(() => requests++).emit('connection', socket)
        })
        socket.on('close', () => resolve(true))
        socket.on('error', () => undefined)
      })
      expect(closed, label).toBe(true)
      expect(requests, label).toBe(0)
      let journal: Awaited<ReturnType<typeof managerJournal>> = []
      const entry = await eventually(async () => {
        journal = await managerJournal(m.home)
        return journal.findLast((row) => row.result === 'refused' && row.reason === reason)
      }, 5000, () => `${label} journaled (have ${JSON.stringify(journal.map(({result, reason, detail}) => ({result, reason, detail})))})`)
      expect(entry, label).toMatchObject({reason, tlsRole: 'server', httpRole: 'client'})
    }
  })
})

describe('manager-initiated mode and queued operations', () => {
  it('the manager contacts the agent itself on its interval; a mode change is queued and delivered', async () => {
    const m = await managerWithListener()
    expect((await tether(['manager', 'settings', 'set', 'heartbeatIntervalSeconds', '1'], m.env)).exitCode).toBe(0)
    const dsaCore = newDsaCore()
    const daemon = await agent(dsaCore, {hostname: 'polled.test'})
    const activated = json(await tether(['manager', 'activate', daemon.address, '--json'], m.env))
    // The manager told the agent where to send heartbeats: where `manager start` listens.
    const comm = () => JSON.parse(fs.readFileSync(path.join(dsaCore, 'ds_agent.comm.json'), 'utf8'))
    expect(comm()).toMatchObject({managerAddress: `127.0.0.1:${m.process.port}`, mode: 'bidirectional', heartbeatSeconds: 1})

    const set = json(await tether(['manager', 'computers', 'set', String(activated.computer.id), '--mode', 'manager-initiated', '--heartbeat-interval', '1', '--json'], m.env))
    expect(set.operation).toMatchObject({command: 'SetCommunication', state: 'queued'})
    await eventually(() => comm().mode === 'manager-initiated', 10_000, 'SetCommunication delivered')
    const operation = () => withStore(m.home, async (store) => (await store.operations.list()).find((op) => op.id === set.operation.id))
    const lastSeen = () => withStore(m.home, async (store) => (await store.computers.get(activated.computer.id))!.lastSeenAt!)
    await eventually(async () => (await operation())?.state === 'done', 5000, 'operation marked done')
    // From now on only the manager initiates; last contact keeps advancing.
    const before = await lastSeen()
    await eventually(async () => (await lastSeen()) > before, 10_000, 'a manager-initiated contact')
    const journal = await agentJournal(dsaCore)
    const lastOutbound = journal.findLast((row) => row.tlsRole === 'client')?.id ?? 0
    const lastInbound = journal.findLast((row) => row.tlsRole === 'server' && row.context === 'mutual' && row.result === 'accepted')?.id
    expect(lastInbound).toBeGreaterThan(lastOutbound)
  })
})

describe('the agent process', () => {
  it('stops cleanly on SIGTERM, releasing its port, lock and control socket', async () => {
    const dsaCore = newDsaCore()
    const a = await startAgent(dsaCore)
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent.sock'))).toBe(true)
    a.child.kill('SIGTERM')
    const result = await a.child
    expect(result.exitCode, `signal ${result.signal}; stderr ${result.stderr}`).toBe(0)
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent.sock'))).toBe(false)
    expect(DirLock.liveHolder(dsaCore, DAEMON_LOCK)).toBeUndefined()
    // A second daemon on the same dsa_core is refused while the first runs.
    const first = await agent(dsaCore)
    const second = await tether(['agent', 'start', '--dsa-core', dsaCore, '--port', '0'])
    expect(second.exitCode).toBe(4)
    expect(second.stderr).toContain(`locked by process ${first.child.pid}`)
  })

  it('reset while running returns it to the bootstrap context without a restart', async () => {
    const m = await managerWithListener()
    const dsaCore = newDsaCore()
    const a = await agent(dsaCore)
    expect((await tether(['manager', 'activate', a.address], m.env)).exitCode).toBe(0)
    const presented = () => new Promise<string | undefined>((resolve, reject) => {
      const socket = tls.connect({host: '127.0.0.1', port: a.port, rejectUnauthorized: false}, () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256)
        socket.destroy()
      })
      socket.on('error', reject)
    })
    const bootstrap = json(await tether(['agent', 'status', '--json', '--dsa-core', newDsaCore()])).certificateHash.sha256
    expect(await presented()).not.toBe(bootstrap)
    expect((await dsaControl(dsaCore, ['-r'])).exitCode).toBe(0)
    expect(await presented()).toBe(bootstrap)
    // And it can be activated again, over the same running process.
    expect((await tether(['manager', 'activate', a.address], m.env)).exitCode).toBe(0)
  })
})
