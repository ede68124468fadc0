import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

import {afterAll, describe, expect, it} from 'vitest'

import {connectMutual} from '../src/manager/connections.js'
import {ManagerHome} from '../src/manager/home.js'
import {agent, listener, managerWithListener, newDsaCore, startAgent, startManager} from './agents.js'
import {CliResult, eventually, initManager, json, openssl, run, tempDir, tether} from './helpers.js'
import {agentJournal, managerJournal, withStore} from './stores.js'

const dsaControl = (dsaCore: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => run('dsa_control', args, {TETHER_DSA_CORE: dsaCore, ...env})
const state = async (dsaCore: string) => json(await tether(['agent', 'status', '--json', '--dsa-core', dsaCore])).state

/** What certificate an agent presents on its port now (no restart needed to change it). */
function presented(port: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({host: '127.0.0.1', port, rejectUnauthorized: false}, () => {
      resolve(socket.getPeerX509Certificate()?.subject)
      socket.destroy()
    })
    socket.on('error', reject)
  })
}

describe('deactivate, revoke, reactivate', () => {
  it('deactivates without a restart, revokes in a CRL openssl verifies, then reactivates with the same and with another manager', async () => {
    const a = await managerWithListener()
    const b = await initManager(tempDir())
    const agentProcess = await agent()
    const first = json(await tether(['manager', 'activate', agentProcess.address, '--json'], a.env)).computer
    const saved = {cert: fs.readFileSync(path.join(agentProcess.dsaCore, 'ds_agent.crt'), 'utf8'), key: fs.readFileSync(path.join(agentProcess.dsaCore, 'ds_agent.key'), 'utf8')}

    const noTty = await tether(['manager', 'deactivate', String(first.id)], a.env)
    expect(noTty.exitCode).toBe(2)
    const result = json(await tether(['manager', 'deactivate', String(first.id), '--yes', '--json'], a.env))
    expect(result).toMatchObject({outcome: 'deactivated', revoked: true})
    expect(await state(agentProcess.dsaCore)).toBe('unactivated')
    expect(await presented(agentProcess.port)).toContain('bootstrap')
    for (const file of ['ds_agent.key', 'ds_agent.crt', 'ds_agent_dsm.crt', 'ds_agent_dsm_ca.crt', 'ds_agent.config', 'ds_agent.comm.json']) {
      expect(fs.existsSync(path.join(agentProcess.dsaCore, file)), file).toBe(false)
    }

    // The CRL: signed by the CA, lists the serial, and openssl then refuses the saved certificate.
    const dir = tempDir()
    const crl = path.join(dir, 'tether.crl')
    expect((await tether(['manager', 'crl', '--output', crl], a.env)).exitCode).toBe(0)
    const verified = await openssl(['crl', '-in', crl, '-CAfile', path.join(a.home, 'ca.crt'), '-noout', '-text', '-verify'])
    expect(verified.stderr + verified.stdout).toContain('verify OK')
    expect(verified.stdout.replace(/\s/g, '')).toContain(`SerialNumber:${first.certSerial}`)
    fs.writeFileSync(path.join(dir, 'saved.crt'), saved.cert)
    const replay = await openssl(['verify', '-crl_check', '-CAfile', path.join(a.home, 'ca.crt'), '-CRLfile', crl, path.join(dir, 'saved.crt')])
    expect(replay.stderr + replay.stdout).toContain('certificate revoked')
    expect(json(await tether(['manager', 'computers', 'show', String(first.id), '--json'], a.env)).state).toBe('deactivated')

    // Reactivation by the same manager: a new computer (the agent cannot prove it was the old one;
    // duplicateNamePolicy new), with a new certificate; the deactivated computer stays as it was.
    const again = json(await tether(['manager', 'activate', agentProcess.address, '--json'], a.env)).computer
    expect(again.guid).not.toBe(first.guid)
    expect(again.state).toBe('activated')
    expect(again.certSha256).not.toBe(first.certSha256)
    expect(json(await tether(['manager', 'computers', 'show', String(first.id), '--json'], a.env)).state).toBe('deactivated')

    // And by another manager, after a second deactivation.
    const second = await tether(['manager', 'deactivate', String(again.id), '--yes', '--json'], a.env)
    expect(json(second).outcome, second.stdout + second.stderr).toBe('deactivated')
    expect((await tether(['manager', 'activate', agentProcess.address], b.env)).exitCode).toBe(0)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', agentProcess.dsaCore])).caCertificate.sha256).toBe(json(await tether(['manager', 'show', '--json'], b.env)).ca.sha256)
  })

  it('a revoked certificate replayed from a saved copy is refused by the manager in both directions', async () => {
    const a = await managerWithListener()
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', a.process.url], {TETHER_AGENT_HOSTNAME: 'agent.test'})).exitCode).toBe(0)
    const saved = {cert: fs.readFileSync(path.join(dsaCore, 'ds_agent.crt'), 'utf8'), key: fs.readFileSync(path.join(dsaCore, 'ds_agent.key'), 'utf8')}
    const daemon = await agent(dsaCore)
    // Deactivation reaches the agent at its next heartbeat (agent-initiated: no address).
    const pending = json(await tether(['manager', 'deactivate', '1', '--yes', '--json'], a.env))
    expect(pending.outcome).toBe('deactivation-pending')
    expect((await dsaControl(dsaCore, ['-m'])).exitCode).toBe(0)
    expect(await withStore(a.home, async (store) => (await store.computers.get(1))?.state)).toBe('deactivated')
    expect(await state(dsaCore)).toBe('unactivated')
    await daemon.stop()

    // Agent -> manager: the saved copy as TLS client on the heartbeat port.
    let requests = 0
    await new Promise<void>((resolve) => {
      const socket = tls.connect({host: '127.0.0.1', port: a.process.port, cert: saved.cert, key: saved.key, rejectUnauthorized: false}, () => {
        http.createServer(() => requests++).emit('connection', socket)
      })
      socket.on('close', () => resolve())
      socket.on('error', () => undefined)
    })
    expect(requests).toBe(0)
    await eventually(async () => (await managerJournal(a.home)).some((row) => row.reason === 'revoked'), 5000, 'the refusal journaled')

    // Manager -> agent: a server presenting the saved copy.
    const server = tls.createServer({cert: saved.cert, key: saved.key, requestCert: true, rejectUnauthorized: false}, (socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const activate = await tether(['manager', 'activate', `127.0.0.1:${port}`, '--json'], a.env)
      expect(activate.exitCode).toBe(5)
      expect(json(activate).error.code).toBe('revoked')
      const {currentCrl} = await import('../src/manager/revocation.js')
      const manager = await new ManagerHome(a.home).open()
      await expect(connectMutual(manager.credentials, '127.0.0.1', port, undefined, (await currentCrl(manager)).pem)).rejects.toThrow(/revoked/)
      await manager.close()
    } finally {
      server.close()
    }
  })

  it('an unreachable agent stays pending; --force removes the computer, revoked all the same', async () => {
    const {home, env} = await initManager(tempDir())
    const a = await startAgent(newDsaCore())
    const computer = json(await tether(['manager', 'activate', a.address, '--json'], env)).computer
    await a.stop()
    const pending = json(await tether(['manager', 'deactivate', String(computer.id), '--yes', '--json'], env))
    expect(pending.outcome).toBe('deactivation-pending')
    expect(pending.reason).toMatch(/cannot reach/)
    expect(json(await tether(['manager', 'computers', 'show', String(computer.id), '--json'], env)).state).toBe('deactivation-pending')
    const forced = json(await tether(['manager', 'deactivate', String(computer.id), '--force', '--yes', '--json'], env))
    expect(forced).toMatchObject({outcome: 'removed', revoked: true})
    expect((await tether(['manager', 'computers', 'show', String(computer.id)], env)).exitCode).toBe(3)
    expect(json(await tether(['manager', 'crl', '--json'], env)).revoked.map((r: {serial: string}) => r.serial)).toContain(computer.certSerial)
    expect(await withStore(home, (store) => store.operations.list(computer.id))).toEqual([])
  })
})

describe('reset', () => {
  it('clears the binding only explicitly: dsa_control -r refuses, reset --unbind clears it, then another manager can activate', async () => {
    const bound = await initManager(tempDir())
    const other = await initManager(tempDir())
    const dsaCore = newDsaCore()
    const file = path.join(tempDir(), 'ds_agent_dsm.crt')
    await run('dsm_c', ['-action', 'exportdsmcert', '-output', file], bound.env)
    expect((await tether(['agent', 'bind', file, '--dsa-core', dsaCore])).exitCode).toBe(0)
    const a = await agent(dsaCore)
    expect((await tether(['manager', 'activate', a.address], other.env)).exitCode).toBe(5)
    expect((await dsaControl(dsaCore, ['-r'])).exitCode).toBe(4)
    expect(await state(dsaCore)).toBe('pre-activated')
    expect((await tether(['agent', 'reset', '--unbind', '--yes', '--dsa-core', dsaCore])).exitCode).toBe(0)
    expect(await state(dsaCore)).toBe('unactivated')
    expect((await tether(['manager', 'activate', a.address], other.env)).exitCode).toBe(0)
  })

  it('a manager still holding the computer sees its next contact fail and shows it as needing reactivation', async () => {
    const {env} = await initManager(tempDir())
    const a = await agent()
    const computer = json(await tether(['manager', 'activate', a.address, '--json'], env)).computer
    expect((await dsaControl(a.dsaCore, ['-r'])).exitCode).toBe(0)
    const policy = path.join(tempDir(), 'p.json')
    fs.writeFileSync(policy, '{"a":1}')
    const sent = json(await tether(['manager', 'policies', 'create', 'p', '--file', policy, '--json'], env))
    expect(sent.policy.name).toBe('p')
    expect((await tether(['manager', 'policies', 'assign', 'p', String(computer.id)], env)).exitCode).toBe(0)
    const push = json(await tether(['manager', 'send-policy', String(computer.id), '--json'], env))
    expect(push.queued).toBe(true)
    expect(push.reason).toMatch(/was reset \(it presents the bootstrap certificate\)/)
    expect(json(await tether(['manager', 'computers', 'show', String(computer.id), '--json'], env)).state).toBe('reactivation-required')
    // By name alone the existing computer comes back only where the operator accepts that risk
    // (duplicateNamePolicy reactivate); what was queued for it is not handed to the new holder.
    expect((await tether(['manager', 'settings', 'set', 'duplicateNamePolicy', 'reactivate'], env)).exitCode).toBe(0)
    expect(json(await tether(['manager', 'activate', a.address, '--json'], env)).computer).toMatchObject({id: computer.id, state: 'activated'})
    const operations = await withStore(env.TETHER_MANAGER_HOME, (store) => store.operations.list(computer.id))
    expect(operations.find((op) => op.command === 'SetSecurityConfiguration')).toMatchObject({state: 'failed', result: 'cancelled: the computer was reactivated'})
  })

  for (const point of ['dsa-core:commit-start', 'dsa-core:journal-written', 'dsa-core:first-file-removed']) {
    it(`killed at ${point}: the agent is either still activated or fully reset`, async () => {
      const {env} = await initManager(tempDir())
      const a = await startAgent(newDsaCore())
      expect((await tether(['manager', 'activate', a.address], env)).exitCode).toBe(0)
      await a.stop()
      const killed = await dsaControl(a.dsaCore, ['-r'], {TETHER_FAILPOINT: point})
      expect(killed.exitCode).not.toBe(0)
      const after = json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore]))
      const files = ['ds_agent.key', 'ds_agent.crt', 'ds_agent_dsm.crt', 'ds_agent_dsm_ca.crt'].filter((f) => fs.existsSync(path.join(a.dsaCore, f)))
      if (point === 'dsa-core:commit-start') {
        expect(after.state).toBe('activated')
        expect(files).toHaveLength(4)
      } else {
        expect(after.state).toBe('unactivated')
        expect(files).toEqual([])
      }

      expect(fs.existsSync(path.join(a.dsaCore, 'ds_agent.journal'))).toBe(false)
    })
  }
})

describe('reset and deactivate while the agent is busy', () => {
  it('a configuration being applied during a reset leaves nothing behind', async () => {
    const {env} = await initManager(tempDir())
    const a = await agent()
    const computer = json(await tether(['manager', 'activate', a.address, '--json'], env)).computer
    // A large policy: decrypting and checking it keeps the agent busy.
    const big = {blob: 'x'.repeat(8 * 1024 * 1024), rules: Array.from({length: 20_000}, (_, i) => `rule ${i}`)}
    const file = path.join(tempDir(), 'big.json')
    fs.writeFileSync(file, JSON.stringify(big))
    expect((await tether(['manager', 'policies', 'create', 'big', '--file', file], env)).exitCode).toBe(0)
    expect((await tether(['manager', 'policies', 'assign', 'big', String(computer.id)], env)).exitCode).toBe(0)
    const [push, reset] = await Promise.all([
      tether(['manager', 'send-policy', String(computer.id), '--json'], env),
      new Promise<CliResult>((resolve) => setTimeout(() => resolve(dsaControl(a.dsaCore, ['-r'])), 150)),
    ])
    expect(reset.exitCode).toBe(0)
    expect(push.exitCode).toBe(0)
    expect(await state(a.dsaCore)).toBe('unactivated')
    for (const f of ['ds_agent.config', 'ds_agent.config.json', 'ds_agent.key', 'ds_agent.journal']) expect(fs.existsSync(path.join(a.dsaCore, f)), f).toBe(false)
    // Still serving, in the bootstrap context.
    expect(await presented(a.port)).toContain('bootstrap')
  })

  it('a deactivation delivered while another command is in flight leaves the agent cleanly unactivated', async () => {
    const {env} = await initManager(tempDir())
    const a = await agent()
    const computer = json(await tether(['manager', 'activate', a.address, '--json'], env)).computer
    const file = path.join(tempDir(), 'big.json')
    fs.writeFileSync(file, JSON.stringify({blob: 'y'.repeat(8 * 1024 * 1024)}))
    expect((await tether(['manager', 'policies', 'create', 'big', '--file', file], env)).exitCode).toBe(0)
    expect((await tether(['manager', 'policies', 'assign', 'big', String(computer.id)], env)).exitCode).toBe(0)
    const [, deactivated] = await Promise.all([
      tether(['manager', 'send-policy', String(computer.id), '--json'], env),
      new Promise<CliResult>((resolve) => setTimeout(() => resolve(tether(['manager', 'deactivate', String(computer.id), '--yes', '--json'], env)), 150)),
    ])
    expect(deactivated.exitCode, deactivated.stdout).toBe(0)
    expect(['deactivated', 'deactivation-pending']).toContain(json(deactivated).outcome)
    expect(await state(a.dsaCore)).toBe('unactivated')
    for (const f of ['ds_agent.config', 'ds_agent.config.json', 'ds_agent.key', 'ds_agent.journal']) expect(fs.existsSync(path.join(a.dsaCore, f)), f).toBe(false)
  })
})

describe('reactivation policy: unknown and cloned agents', () => {
  it('a cloned agent is refused unless allowed, then re-keyed as a new computer; the original keeps working', async () => {
    const m = await managerWithListener()
    const original = newDsaCore()
    expect((await dsaControl(original, ['-a', m.process.url], {TETHER_AGENT_HOSTNAME: 'original.test'})).exitCode).toBe(0)
    const clone = newDsaCore()
    fs.cpSync(original, clone, {recursive: true})
    const beat = (dsaCore: string, hostname: string) => dsaControl(dsaCore, ['-m'], {TETHER_AGENT_HOSTNAME: hostname})
    const computers = () => withStore(m.home, (store) => store.computers.list())

    const refused = await beat(clone, 'clone.test')
    expect(refused.exitCode).toBe(4)
    expect(refused.stderr).toContain('a cloned agent')
    await eventually(async () => (await managerJournal(m.home)).some((row) => row.reason === 'cloned-agent'), 5000, 'clone refused')
    expect(await computers()).toHaveLength(1)

    expect((await tether(['manager', 'settings', 'set', 'allowReactivateCloned', 'true'], m.env)).exitCode).toBe(0)
    expect((await beat(clone, 'clone.test')).exitCode).toBe(0)
    const recorded = await computers()
    expect(recorded.map((c) => c.hostname)).toEqual(['original.test', 'clone.test'])
    const cloneStatus = json(await tether(['agent', 'status', '--json', '--dsa-core', clone]))
    expect(cloneStatus.certificateHash.sha256).toBe(recorded[1].certSha256)
    expect(cloneStatus.certificateHash.sha256).not.toBe(recorded[0].certSha256)
    expect((await beat(original, 'original.test')).exitCode).toBe(0)
    expect((await beat(clone, 'clone.test')).exitCode).toBe(0)
  })

  it('an agent unknown to the registry is refused unless allowed, then reactivated as a new computer', async () => {
    const {home, env} = await initManager(tempDir())
    const registry = path.join(home, 'tether.db')
    const backup = path.join(tempDir(), 'tether.db')
    fs.copyFileSync(registry, backup)
    const first = await startManager(home)
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', first.url])).exitCode).toBe(0)
    await first.stop()
    // The registry is restored from the backup taken before the activation: it has no trace of the agent.
    for (const file of [registry, `${registry}-wal`, `${registry}-shm`]) fs.rmSync(file, {force: true})
    fs.copyFileSync(backup, registry)
    await listener(home, {port: first.port})
    const computers = () => withStore(home, (store) => store.computers.list())
    await dsaControl(dsaCore, ['-m'])
    await eventually(async () => (await managerJournal(home)).some((row) => row.reason === 'unknown-agent'), 5000, 'unknown refused')
    expect(await computers()).toHaveLength(0)
    expect((await tether(['manager', 'settings', 'set', 'allowReactivateUnknown', 'true'], env)).exitCode).toBe(0)
    expect((await dsaControl(dsaCore, ['-m'])).exitCode).toBe(0)
    const recorded = await computers()
    expect(recorded).toHaveLength(1)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', dsaCore])).certificateHash.sha256).toBe(recorded[0].certSha256)
  })
})

describe('what the agent sees when the manager will not have it', () => {
  it('a heartbeat with a revoked certificate fails on the agent, not just in the manager journal', async () => {
    const m = await managerWithListener()
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', m.process.url])).exitCode).toBe(0)
    expect(json(await tether(['manager', 'deactivate', '1', '--force', '--yes', '--json'], m.env)).outcome).toBe('removed')
    const beat = await dsaControl(dsaCore, ['-m'])
    expect(beat.exitCode).toBe(4)
    expect(beat.stderr).toMatch(/closed the connection without a request: it does not accept this agent's certificate/)
  })

  it('a manager re-created with a new CA: the agent refuses it, says what to do, and journals it', async () => {
    const m = await managerWithListener()
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', m.process.url])).exitCode).toBe(0)
    await m.process.stop()
    expect((await tether(['manager', 'init', '--force', '--yes', '--hostname', 'localhost'], m.env)).exitCode).toBe(0)
    await listener(m.home, {port: m.process.port})
    const beat = await dsaControl(dsaCore, ['-m'])
    expect(beat.exitCode).toBe(5)
    expect(beat.stderr).toMatch(/reset the agent \(`dsa_control -r`\) and activate it again/)
    const journal = (await agentJournal(dsaCore)).filter((row) => row.tlsRole === 'client' && row.result !== 'accepted')
    expect(journal.length).toBeGreaterThan(0)
  })
})
