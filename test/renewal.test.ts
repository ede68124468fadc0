import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {heartbeatOnce} from '../src/agent/outbound.js'
import {AgentRuntime, AgentServer} from '../src/agent/server.js'
import {certificateLife} from '../src/manager/certificate-life.js'
import {contactNow} from '../src/manager/contact.js'
import type {ManagerContext} from '../src/manager/context.js'
import {ManagerHome, initManagerHome} from '../src/manager/home.js'
import {activate} from '../src/manager/manager-initiated.js'
import {ManagerRuntime} from '../src/manager/runtime.js'
import {setSetting} from '../src/manager/settings.js'
import type {Computer} from '../src/manager/store/store.js'
import {parseCertificate, fingerprint} from '../src/pki/certificate.js'
import {agent, exited, newDsaCore, startAgent} from './agents.js'
import {eventually, initManager, json, openssl, tempDir, tether} from './helpers.js'
import {withStore} from './stores.js'

/**
 * Agent certificate renewal: past its renewal point (or when an operator asks), the agent makes a
 * new key and CSR at the next contact in either direction, installs the certificate the CA signs,
 * and the old one is revoked only once the agent has presented the new one. In process first
 * (both directions, the operator's request, the refusal past the grace), then real processes
 * killed at every step of it.
 */

async function agentRuntime(hostname: string, servers: AgentServer[]): Promise<{runtime: AgentRuntime; address: string; dsaCore: string}> {
  const parent = path.join(tempDir('tether-renewal-'), 'ds_agent')
  fs.mkdirSync(parent)
  const dsaCore = path.join(parent, 'dsa_core')
  const runtime = await AgentRuntime.open({dsaCore, hostname})
  const server = new AgentServer(runtime)
  servers.push(server)
  const bound = await server.listen(0, '127.0.0.1')
  return {runtime, address: `127.0.0.1:${bound.port}`, dsaCore}
}

const agentKey = (dsaCore: string) => fs.readFileSync(path.join(dsaCore, 'ds_agent.key'), 'utf8')
const agentCertSha256 = (dsaCore: string) => fingerprint(parseCertificate(fs.readFileSync(path.join(dsaCore, 'ds_agent.crt')), 'agent certificate'))

describe('renewal, in process', () => {
  let home: ManagerHome
  let runtime: ManagerRuntime
  let manager: ManagerContext
  const servers: AgentServer[] = []

  beforeAll(async () => {
    home = await initManagerHome(path.join(tempDir(), 'manager'), {hostnames: ['localhost', '127.0.0.1']})
    runtime = await ManagerRuntime.open(home)
    await runtime.start(0, '127.0.0.1', {pollMs: 3_600_000})
    manager = runtime.context
  })

  afterAll(async () => {
    for (const server of servers) await server.close()
    await runtime.stop()
  })

  it('an operator\'s request renews at the next manager-initiated contact: new key, same subject, old certificate revoked once the agent presents the new one', async () => {
    const a = await agentRuntime('renew-1.test', servers)
    const {computer} = await activate(manager, a.address)
    const oldKey = agentKey(a.dsaCore)
    const oldCert = parseCertificate(fs.readFileSync(path.join(a.dsaCore, 'ds_agent.crt')), 'old')
    expect(await manager.store.computers.requestRenewal([computer.id])).toBe(1)

    const contact = await contactNow(manager, (await manager.store.computers.get(computer.id))!)
    expect(contact.contacted).toBe(true)
    expect(contact.report?.renewed?.sha256).toBe(agentCertSha256(a.dsaCore))
    const after = (await manager.store.computers.get(computer.id))!
    expect(after).toMatchObject({certSha256: agentCertSha256(a.dsaCore), renewalSha256: null, renewRequested: false, state: 'activated'})
    expect(after.certSha256).not.toBe(computer.certSha256)
    expect(agentKey(a.dsaCore)).not.toBe(oldKey)
    const renewed = parseCertificate(fs.readFileSync(path.join(a.dsaCore, 'ds_agent.crt')), 'renewed')
    expect(renewed.subject).toBe(oldCert.subject)
    expect(await manager.store.certificates.revocation(computer.certSha256!)).toMatchObject({reason: 'superseded'})
    expect(await manager.store.certificates.isRevoked(after.certSha256!)).toBe(false)
    // The CA signed a new certificate for the key in the CSR; no private key reached the registry.
    expect(JSON.stringify(await manager.store.certificates.pem(after.certSha256!))).not.toContain('PRIVATE KEY')

    // The next contact is an ordinary one: nothing renews again, the agent is heard.
    const again = await contactNow(manager, after)
    expect(again).toMatchObject({contacted: true, report: {deactivated: false}})
    expect(again.report?.renewed).toBeUndefined()
    expect((await manager.store.computers.get(computer.id))?.certSha256).toBe(after.certSha256)
  })

  it('renews by itself past renewAfter of a short lifetime, in the agent-initiated direction: the agent reconnects with its new certificate', async () => {
    await setSetting(manager.store, 'heartbeatIntervalSeconds', '60')
    await setSetting(manager.store, 'renewAfter', '0.1')
    await setSetting(manager.store, 'agentCertificateLifetime', '5m')
    try {
      const a = await agentRuntime('renew-2.test', servers)
      const {computer} = await activate(manager, a.address, {mode: 'agent-initiated'})
      const life = certificateLife(computer, {renewAfter: 0.1, expiredRenewalGrace: '90d', heartbeatIntervalSeconds: 60}, new Date())!
      expect(life.standing).toBe('ok')
      expect(Date.parse(computer.certNotAfter!) - Date.parse(computer.certNotBefore!)).toBe(5.5 * 60_000)

      // Before the renewal point: a heartbeat and nothing more.
      await heartbeatOnce(a.runtime)
      expect((await manager.store.computers.get(computer.id))?.certSha256).toBe(computer.certSha256)

      await eventually(() => Date.now() > Date.parse(life.renewsAt) + 100, 10_000, 'the renewal point')
      await heartbeatOnce(a.runtime)
      const after = (await manager.store.computers.get(computer.id))!
      expect(after.certSha256).not.toBe(computer.certSha256)
      expect(after).toMatchObject({certSha256: agentCertSha256(a.dsaCore), renewalSha256: null})
      expect(Date.parse(after.certNotAfter!)).toBeGreaterThan(Date.parse(computer.certNotAfter!))
      expect(await manager.store.certificates.isRevoked(computer.certSha256!)).toBe(true)
      // The agent knows when its certificate renews: the manager told it renewAfter.
      expect(a.runtime.store.status().renewal).toMatchObject({notAfter: after.certNotAfter})
      await heartbeatOnce(a.runtime)
      expect((await manager.store.computers.get(computer.id))?.certSha256).toBe(after.certSha256)
    } finally {
      await setSetting(manager.store, 'agentCertificateLifetime', '397d')
      await setSetting(manager.store, 'renewAfter', String(2 / 3))
      await setSetting(manager.store, 'heartbeatIntervalSeconds', '600')
    }
  })

  it('refuses a lifetime that leaves less than two heartbeats to renew in, and says what to change', async () => {
    await expect(setSetting(manager.store, 'agentCertificateLifetime', '5m')).rejects.toMatchObject({
      code: 'renewal-window-too-short',
      hint: expect.stringContaining('heartbeatIntervalSeconds'),
    })
    expect((await setSetting(manager.store, 'agentCertificateLifetime', '30d')).value).toBe('30d')
    await setSetting(manager.store, 'agentCertificateLifetime', '397d')
  })
})

describe('where a certificate stands (injected clock)', () => {
  const issued = {certNotBefore: '2026-01-01T00:00:00.000Z', certNotAfter: '2026-01-31T00:00:00.000Z', state: 'activated', renewalSha256: null, renewRequested: false} as unknown as Computer
  const settings = {renewAfter: 0.5, expiredRenewalGrace: '10d', heartbeatIntervalSeconds: 3600}
  const at = (iso: string, computer: Computer = issued) => certificateLife(computer, settings, new Date(iso))

  it('goes ok, renewal-due, overdue, expiring, expired, beyond-grace as time passes', () => {
    expect(at('2026-01-10T00:00:00Z')).toMatchObject({standing: 'ok', renewsAt: '2026-01-16T00:00:00.000Z', daysLeft: 21, attention: false})
    expect(at('2026-01-16T00:30:00Z')).toMatchObject({standing: 'renewal-due', attention: false})
    expect(at('2026-01-16T02:00:01Z')).toMatchObject({standing: 'overdue', attention: true})
    expect(at('2026-01-29T00:00:00Z')).toMatchObject({standing: 'expiring', daysLeft: 2, attention: true})
    expect(at('2026-02-05T00:00:00Z')).toMatchObject({standing: 'expired', daysLeft: -5, attention: true})
    expect(at('2026-02-10T00:00:01Z')).toMatchObject({standing: 'beyond-grace', attention: true})
  })

  it('shows a renewal in progress, and one an operator asked for', () => {
    expect(at('2026-01-16T01:00:00Z', {...issued, renewalSha256: 'a'.repeat(64)})).toMatchObject({standing: 'renewing'})
    expect(at('2026-01-02T00:00:00Z', {...issued, renewRequested: true})).toMatchObject({standing: 'renewal-due'})
    expect(at('2026-01-02T00:00:00Z', {...issued, state: 'deactivated'} as Computer)).toBeUndefined()
  })
})

describe('renewal from the command line, and killed at every step', () => {
  let env: Record<string, string>
  let home: string
  let caFile: string

  beforeAll(async () => {
    ;({env, home} = await initManager(tempDir()))
    caFile = path.join(home, 'ca.crt')
  })

  /** An activated computer with a known address: `computers renew --now` contacts it. */
  async function activated(hostname: string) {
    const dsaCore = newDsaCore()
    const process = await startAgent(dsaCore, {hostname})
    stopLater(process)
    const result = await tether(['manager', 'activate', process.address, '--json'], env)
    expect(result.exitCode, result.stderr).toBe(0)
    return {dsaCore, process, computer: json(result).computer as Computer}
  }

  const renewNow = (ref: string | number, extra: Record<string, string> = {}) => tether(['manager', 'computers', 'renew', String(ref), '--now', '--json'], {...env, ...extra})
  const show = async (id: number) => json(await tether(['manager', 'computers', 'show', String(id), '--json'], env))

  /** The agent works with whatever it holds, and a renewal then completes and supersedes the rest. */
  async function recovers(dsaCore: string, id: number, original: string) {
    const held = agentCertSha256(dsaCore)
    expect((await openssl(['verify', '-CAfile', caFile, path.join(dsaCore, 'ds_agent.crt')])).exitCode).toBe(0)
    // An ordinary contact works with it (and finishes a renewal the agent had installed).
    const contact = await tether(['manager', 'send-policy', String(id), '--json'], env)
    expect(contact.stdout + contact.stderr).not.toMatch(/reset|reactivat|refused/i)
    const retry = await renewNow(id)
    expect(retry.exitCode, retry.stderr).toBe(0)
    expect(json(retry).computers).toEqual([expect.objectContaining({computer: expect.objectContaining({id}), renewed: true})])
    const now = await show(id)
    expect(now).toMatchObject({certSha256: agentCertSha256(dsaCore), renewalSha256: null, state: 'activated'})
    expect([original, held]).not.toContain(now.certSha256)
    await withStore(home, async (store) => {
      expect(await store.certificates.isRevoked(original)).toBe(true)
      expect(await store.certificates.isRevoked(held)).toBe(true)
      expect(await store.certificates.isRevoked(now.certSha256)).toBe(false)
    })
  }

  it('manager computers renew --now renews a reachable computer; list and show tell expiry and renewal', async () => {
    const a = await activated('cli-renew.test')
    const list = json(await tether(['manager', 'computers', 'list', '--json'], env)).computers as Array<{id: number; certificate: {standing: string; daysLeft: number; renewsAt: string}}>
    const row = list.find((c) => c.id === a.computer.id)!
    expect(row.certificate).toMatchObject({standing: 'ok', daysLeft: 396})
    const human = await tether(['manager', 'computers', 'list'], env)
    expect(human.stdout).toMatch(/cert 396d/)

    const result = await renewNow('cli-renew.test')
    expect(result.exitCode, result.stderr).toBe(0)
    expect(json(result).computers).toEqual([{computer: {id: a.computer.id, hostname: 'cli-renew.test'}, renewed: true}])
    expect((await show(a.computer.id)).certSha256).toBe(agentCertSha256(a.dsaCore))
    const text = (await tether(['manager', 'computers', 'show', String(a.computer.id)], env)).stdout
    expect(text).toMatch(/Certificate expires: +\S+ \(39[67] days left\)/)
    expect(text).toMatch(/Certificate renewal: +ok, renews at the first contact after/)
    const status = json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore]))
    expect(status.renewal).toMatchObject({daysLeft: expect.any(Number), renewsAt: expect.any(String)})

    const usage = await tether(['manager', 'computers', 'renew'], env)
    expect(usage.exitCode).toBe(2)
    expect(usage.stderr).toMatch(/name a computer, or pass --all/)
  })

  for (const point of ['renewal:after-csr', 'renewal:before-commit', 'dsa-core:journal-written', 'dsa-core:first-file-applied', 'renewal:after-commit']) {
    it(`agent killed at ${point}: it restarts with the old identity or the new one, and renewal then completes`, async () => {
      const hostname = `agent-${point.replace(/\W/g, '-')}.test`
      const a = await activated(hostname)
      // Armed only now: the activation commits through the same journal.
      await a.process.stop()
      const doomed = await startAgent(a.dsaCore, {hostname, env: {TETHER_FAILPOINT: point}, port: a.process.port})
      const attempt = await renewNow(a.computer.id)
      expect(json(attempt).computers[0].renewed).toBe(false)
      expect((await exited(doomed)).signal).toBe('SIGKILL')
      expect(fs.existsSync(path.join(a.dsaCore, 'ds_agent.journal'))).toBe(point.startsWith('dsa-core'))
      await agent(a.dsaCore, {hostname, port: a.process.port})
      expect(fs.existsSync(path.join(a.dsaCore, 'ds_agent.journal'))).toBe(false)
      expect(json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore])).state).toBe('activated')
      await recovers(a.dsaCore, a.computer.id, a.computer.certSha256!)
    })
  }

  for (const point of ['manager-renewal:issued', 'manager-renewal:installed', 'manager-renewal:before-confirm']) {
    it(`manager killed at ${point}: the agent keeps working, and renewal then completes`, async () => {
      const a = await activated(`manager-${point.replace(/\W/g, '-')}.test`)
      const attempt = await renewNow(a.computer.id, {TETHER_FAILPOINT: point})
      expect(attempt.signal).toBe('SIGKILL')
      const pending = await show(a.computer.id)
      expect(pending.state).toBe('activated')
      await recovers(a.dsaCore, a.computer.id, a.computer.certSha256!)
    })
  }
})

const running: Array<{stop(): Promise<void>}> = []
function stopLater(process: {stop(): Promise<void>}): void {
  running.push(process)
}

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()))
})
