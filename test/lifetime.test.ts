import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AgentProcess, ManagerProcess, newDsaCore, startAgent, startManager} from './agents.js'
import {fingerprint, parseCertificate} from '../src/pki/certificate.js'
import {FakeClock} from './faketime.js'
import {allowAgentInitiated, eventually, json, run, tempDir, tether} from './helpers.js'
import {managerJournal} from './stores.js'

/**
 * Three years of a deployment in a few minutes: a running manager and running agents in both
 * directions, the wall clock moved forward under them in 60-day steps (libfaketime), the agents' a
 * few minutes behind the manager's. Every contact after every jump succeeds: the CRL is issued
 * again, the manager renews its own certificate, the agents renew theirs, and nobody is told to
 * reset anything. Agents offline past their certificate's expiry renew within the grace; past it
 * they are told to reactivate, and nothing on them is changed.
 */

const DAY = 86_400_000
const STEP_DAYS = 60
const STEPS = 18 // 1080 days
const start = new Date()
const managerClock = new FakeClock(start)
/** The agents' clock runs three minutes behind the manager's. */
const agentClock = new FakeClock(new Date(start.getTime() - 3 * 60_000))
const at = (step: number) => new Date(start.getTime() + step * STEP_DAYS * DAY)

let home: string
let managerEnv: Record<string, string>
let manager: ManagerProcess
const daemons: AgentProcess[] = []

/** One attempt each (an activation would otherwise retry what may pass). */
const dsaControl = (dsaCore: string, hostname: string, args: string[]) =>
  run('dsa_control', [...args, ...(args[0] === '-a' ? ['--max-dsm-retries', '0'] : [])], {...agentClock.env, TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: hostname})
const computer = async (ref: string) => json(await tether(['manager', 'computers', 'show', ref, '--json'], managerEnv))
const agentCert = (dsaCore: string) => fs.readFileSync(path.join(dsaCore, 'ds_agent.crt'), 'utf8')

function setClocks(when: Date): void {
  managerClock.set(when)
  agentClock.set(new Date(when.getTime() - 3 * 60_000))
}

beforeAll(async () => {
  home = path.join(tempDir(), 'manager')
  managerEnv = {...managerClock.env, TETHER_MANAGER_HOME: home}
  expect((await tether(['manager', 'init', '--home', home, '--hostname', 'localhost', '--hostname', '127.0.0.1'], managerClock.env)).exitCode).toBe(0)
  await allowAgentInitiated(home)
  manager = await startManager(home, {env: managerClock.env, args: ['--log-level', 'debug']})
})

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()))
  await manager?.stop()
})

const snapshotOf = (dsaCore: string) => Object.fromEntries(fs.readdirSync(dsaCore).filter((f) => /^ds_agent(\.crt|\.key|_dsm\.crt|_dsm_ca\.crt|\.comm\.json)$/.test(f)).map((f) => [f, fs.readFileSync(path.join(dsaCore, f), 'utf8')]))

describe('years of uptime with the clock moved forward under the running processes', () => {
  it('every contact in both directions succeeds across three years; certificates, CRLs and the manager certificate renew themselves; agents back after expiry renew within the grace and are told to reactivate after it', async () => {
    // Agent-initiated: its heartbeats are dsa_control -m, as a cron job or the classic agent sends them.
    const outbound = newDsaCore()
    expect((await dsaControl(outbound, 'outbound.test', ['-a', manager.url])).stdout).toContain('HTTP Status: 200 - OK')
    // Manager-initiated: a running agent the manager's own poller contacts.
    const inbound = await startAgent(newDsaCore(), {env: agentClock.env, hostname: 'inbound.test'})
    daemons.push(inbound)
    expect((await tether(['manager', 'activate', inbound.address], managerEnv)).exitCode).toBe(0)
    expect((await tether(['manager', 'computers', 'set', 'inbound.test', '--mode', 'manager-initiated'], managerEnv)).exitCode).toBe(0)
    const inboundId = (await computer('inbound.test')).id as number

    // Three that go quiet. Their certificates (397 days) expire at day 397; the grace is 90 days.
    const late = newDsaCore() // back at day 420, by itself
    const tooLate = newDsaCore() // back at day 540
    expect((await dsaControl(late, 'late.test', ['-a', manager.url])).stdout).toContain('HTTP Status: 200 - OK')
    expect((await dsaControl(tooLate, 'too-late.test', ['-a', manager.url])).stdout).toContain('HTTP Status: 200 - OK')
    // Manager-initiated, its agent stopped until day 420: the manager renews it when it is back.
    let sleeper = await startAgent(newDsaCore(), {env: agentClock.env, hostname: 'sleeper.test'})
    expect((await tether(['manager', 'activate', sleeper.address], managerEnv)).exitCode).toBe(0)
    expect((await tether(['manager', 'computers', 'set', 'sleeper.test', '--mode', 'manager-initiated'], managerEnv)).exitCode).toBe(0)
    await sleeper.stop()

    const firstManagerCert = json(await tether(['manager', 'show', '--json'], managerEnv)).manager.sha256 as string
    const seen = {outbound: new Set([agentCert(outbound)]), inbound: new Set([agentCert(inbound.dsaCore)])}
    for (let step = 1; step <= STEPS; step++) {
      const now = at(step)
      setClocks(now)
      const label = `day ${step * STEP_DAYS}`
      const beat = await dsaControl(outbound, 'outbound.test', ['-m'])
      expect(beat.exitCode, `${label}: ${beat.stdout}${beat.stderr}`).toBe(0)
      seen.outbound.add(agentCert(outbound))
      const contacted = await eventually(async () => {
        const c = await computer('inbound.test')
        return Date.parse(c.lastSeenAt) >= now.getTime() - 60_000 && c
      }, 20_000, `${label}: the manager's contact with inbound.test`)
      seen.inbound.add(agentCert(inbound.dsaCore))
      for (const c of [contacted, await computer('outbound.test')]) {
        expect(c.certificate.standing, `${label}: ${c.hostname}`).toMatch(/^(ok|renewal-due)$/)
        expect(Date.parse(c.certNotAfter), label).toBeGreaterThan(now.getTime())
      }

      const crl = json(await tether(['manager', 'crl', '--json'], managerEnv))
      expect(Date.parse(crl.nextUpdate), `${label}: the CRL in force`).toBeGreaterThan(now.getTime())

      if (step === 7) {
        // 23 days past expiry: the first contact renews (and does nothing else), the next is ordinary.
        expect((await computer('late.test')).certificate.standing).toBe('expired')
        const before = agentCert(late)
        const back = await dsaControl(late, 'late.test', ['-m'])
        expect(back.exitCode, back.stdout + back.stderr).toBe(0)
        expect(agentCert(late)).not.toBe(before)
        expect((await computer('late.test')).certificate.standing).toBe('ok')
        expect((await dsaControl(late, 'late.test', ['-m'])).exitCode).toBe(0)

        sleeper = await startAgent(sleeper.dsaCore, {env: agentClock.env, hostname: 'sleeper.test', port: sleeper.port})
        daemons.push(sleeper)
        const renewed = await eventually(async () => {
          const c = await computer('sleeper.test')
          return c.certificate.standing === 'ok' && c
        }, 20_000, () => `the manager renewing sleeper.test, back after its certificate expired; manager log: ${manager.log.lines.filter((l) => l.includes('computer=5') || l.includes('renew')).slice(-40).join('\n')}\nagent log: ${sleeper.log.lines.slice(0, 30).join('\n')}`)
        expect(renewed.certSha256).toBeTruthy()
      }

      if (step === 9) {
        // 143 days past expiry: refused, told why and what to do; nothing on the agent changes.
        expect((await computer('too-late.test')).certificate.standing).toBe('beyond-grace')
        const before = snapshotOf(tooLate)
        const refused = await dsaControl(tooLate, 'too-late.test', ['-m'])
        expect(refused.exitCode).not.toBe(0)
        expect(refused.stderr).toMatch(/expired/)
        expect(refused.stderr).toMatch(/expiredRenewalGrace/)
        expect(snapshotOf(tooLate)).toEqual(before)
        expect(json(await tether(['agent', 'status', '--json', '--dsa-core', tooLate], agentClock.env)).state).toBe('activated')
      }
    }

    // Renewed past two thirds of 397 days: at days 300, 600 and 900.
    expect(seen.outbound.size).toBe(4)
    expect(seen.inbound.size).toBe(4)
    // The manager certificate (825 days) renewed itself past two thirds, and agents noticed nothing.
    const shown = json(await tether(['manager', 'show', '--json'], managerEnv))
    expect(shown.manager.sha256).not.toBe(firstManagerCert)
    expect(shown.previousManager?.sha256).toBe(firstManagerCert)
    const log = manager.log.lines.join('\n')
    expect(log).toMatch(/event=manager-certificate-renewed/)
    expect(log).toMatch(/event=crl-issued/)
    expect(manager.log.lines.filter((line) => line.includes('event=contact-failed') && line.includes(`computer=${inboundId} `))).toEqual([])
    // Nothing the two steady agents presented was refused, at any step, with any of their certificates.
    const steady = new Set([...seen.outbound, ...seen.inbound].map((pem) => fingerprint(parseCertificate(pem, 'agent certificate'))))
    expect((await managerJournal(home)).filter((row) => row.result !== 'accepted' && row.peerSha256 && steady.has(row.peerSha256))).toEqual([])
  }, 900_000)
})
