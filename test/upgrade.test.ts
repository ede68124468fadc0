import fs from 'node:fs'
import path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {agent, listener} from './agents.js'
import {FakeClock} from './faketime.js'
import {ROOT, json, openssl, run, tempDir, tether} from './helpers.js'
import {managerJournal} from './stores.js'

/**
 * A manager home and agents made by the previous release (test/fixtures/previous-release), used by
 * this one: the home keeps its behaviour, the manager gives itself a manager-role certificate at its
 * first start, and the old agents keep working with it (managers are upgraded before agents).
 */

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'previous-release')
// A day after the fixtures were made: inside the validity of every certificate in them.
const clock = new FakeClock(new Date('2026-12-02T12:00:00Z'))

/** A copy of a fixture directory, with the modes an installation has (git keeps none). */
function copyFixture(name: string, into: string): string {
  const target = path.join(into, name)
  fs.cpSync(path.join(FIXTURES, name), target, {recursive: true})
  for (const dir of [target, ...fs.readdirSync(target, {recursive: true, withFileTypes: true}).filter((e) => e.isDirectory()).map((e) => path.join(e.parentPath, e.name))]) fs.chmodSync(dir, 0o700)
  for (const file of fs.readdirSync(target, {recursive: true, withFileTypes: true}).filter((e) => e.isFile())) {
    fs.chmodSync(path.join(file.parentPath, file.name), /\.(key|db)$/.test(file.name) ? 0o600 : 0o644)
  }

  return target
}

let home: string
let env: Record<string, string>
let activated: string
let bound: string

beforeAll(() => {
  const dir = tempDir()
  home = copyFixture('manager', dir)
  activated = path.join(copyFixture('agent-activated', dir), 'dsa_core')
  bound = path.join(copyFixture('agent-bound', dir), 'dsa_core')
  env = {...clock.env, TETHER_MANAGER_HOME: home}
})

describe('upgrading a home and agents of the previous release', () => {
  it('the home keeps its defaults (agent-initiated activation on, duplicates reactivated) and says they are open', async () => {
    const show = await tether(['manager', 'show', '--json'], env)
    expect(show.exitCode, show.stderr).toBe(0)
    expect(json(show).warnings.map((w: {code: string}) => w.code)).toEqual(['open-enrolment', 'takeover-by-name'])
    const settings = json(await tether(['manager', 'settings', 'list', '--json'], env)).settings
    const value = (name: string) => settings.find((s: {name: string}) => s.name === name)
    expect(value('agentInitiatedActivation')).toMatchObject({value: 'any', isDefault: false})
    expect(value('duplicateNamePolicy')).toMatchObject({value: 'reactivate', isDefault: false})
    expect((await tether(['manager', 'computers', 'list', '--json'], env)).stdout).toContain('upgrade-a.test')
  })

  it('the manager re-issues its certificate with the manager role at its first start, keeping the old one', async () => {
    const old = fs.readFileSync(path.join(home, 'manager.crt'), 'utf8')
    const manager = await listener(home, {env: clock.env})
    const renewed = fs.readFileSync(path.join(home, 'manager.crt'), 'utf8')
    expect(renewed).not.toBe(old)
    expect(fs.readFileSync(path.join(home, 'manager.previous.crt'), 'utf8')).toBe(old)
    expect((await openssl(['x509', '-in', path.join(home, 'manager.crt'), '-noout', '-ext', 'extendedKeyUsage'])).stdout).toContain('2.25.10326813036734044813373435100299546511')
    // At the processes' time: the new certificate starts an hour before the clock they read.
    const at = String(Math.floor(Date.parse('2026-12-02T13:00:00Z') / 1000))
    expect((await openssl(['verify', '-attime', at, '-CAfile', path.join(home, 'ca.crt'), path.join(home, 'manager.crt')])).exitCode).toBe(0)

    // The old agent, now this version, heartbeats to it: the role is there, the CA the same.
    const comm = path.join(activated, 'ds_agent.comm.json')
    fs.writeFileSync(comm, JSON.stringify({...JSON.parse(fs.readFileSync(comm, 'utf8')), managerAddress: `127.0.0.1:${manager.port}`}))
    const beat = await run('dsa_control', ['-m'], {...clock.env, TETHER_DSA_CORE: activated, TETHER_AGENT_HOSTNAME: 'upgrade-a.test'})
    expect(beat.exitCode, beat.stdout + beat.stderr).toBe(0)
    // It was given the manager's CRL in that contact.
    expect(fs.existsSync(path.join(activated, 'ds_agent_dsm.crl'))).toBe(true)

    // And a signed configuration reaches it.
    const policy = path.join(tempDir(), 'policy.json')
    fs.writeFileSync(policy, '{"firewall":{"enabled":true}}')
    expect((await tether(['manager', 'policies', 'create', 'after-upgrade', '--file', policy], env)).exitCode).toBe(0)
    expect((await tether(['manager', 'policies', 'assign', 'after-upgrade', 'upgrade-a.test'], env)).exitCode).toBe(0)
    expect((await run('dsa_control', ['-m'], {...clock.env, TETHER_DSA_CORE: activated, TETHER_AGENT_HOSTNAME: 'upgrade-a.test'})).exitCode).toBe(0)
    const status = json(await tether(['agent', 'status', '--json', '--dsa-core', activated], clock.env))
    expect(status.configuration).toMatchObject({policy: 'after-upgrade', version: 1})
  })

  it('an agent bound to the old manager certificate is activated with it, the refusal of the new one expected', async () => {
    const a = await agent(bound, {env: clock.env, hostname: 'upgrade-b.test'})
    const result = await tether(['manager', 'activate', a.address, '--json'], env)
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    expect(json(result).computer).toMatchObject({hostname: 'upgrade-b.test', state: 'activated'})
    const journal = await managerJournal(home)
    expect(journal.map((e) => e.reason)).toContain('bound-to-previous-certificate')
    expect(journal.filter((e) => e.reason === 'bound-to-other-manager')).toEqual([])
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', bound], clock.env)).state).toBe('activated')
  })
})
