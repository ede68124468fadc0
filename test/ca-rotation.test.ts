import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AgentProcess, ManagerProcess, newDsaCore, startAgent, startManager} from './agents.js'
import {eventually, initManager, json, openssl, run, snapshot, tempDir, tether} from './helpers.js'

/**
 * CA rotation on real processes: a running manager, agents in both directions, one that holds only
 * the old CA when it comes back after activate, an enrolment token pinned to the old CA, and one
 * agent that never comes back (stranded at retire). Certificates are checked with openssl.
 */

let home: string
let env: Record<string, string>
let manager: ManagerProcess
const daemons: AgentProcess[] = []

const dsaControl = (dsaCore: string, hostname: string, args: string[]) => run('dsa_control', [...args, ...(args[0] === '-a' ? ['--max-dsm-retries', '0'] : [])], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: hostname})
const cas = (dsaCore: string) => (fs.readFileSync(path.join(dsaCore, 'ds_agent_dsm_ca.crt'), 'utf8').match(/BEGIN CERTIFICATE/g) ?? []).length
const status = async () => json(await tether(['manager', 'ca', 'rotate', 'status', '--json'], env))
const issuedBy = async (caFile: string, certFile: string) => (await openssl(['verify', '-CAfile', caFile, certFile])).exitCode === 0
/** The running manager has taken the phase (it reads the home again within a poll). */
const reloaded = (phase: string) => {
  const seen = manager.log.lines.length
  return eventually(() => manager.log.lines.slice(reloadedFrom).some((l, i) => l.includes('event=credentials-reloaded') && l.includes(`caRotation=${phase}`) && (reloadedFrom = reloadedFrom + i + 1) >= 0) || seen < 0, 10_000, `the running manager taking the ${phase} phase`)
}
let reloadedFrom = 0
const computer = async (ref: string) => json(await tether(['manager', 'computers', 'show', ref, '--json'], env))

beforeAll(async () => {
  ;({home, env} = await initManager(tempDir()))
  manager = await startManager(home)
})

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()))
  await manager?.stop()
})

describe('tether manager ca rotate', () => {
  it('prepare, activate, rollback, retire: agents in both directions move over, an old-CA-only agent and an old-CA token still work until retire, a stranded computer is refused and listed', async () => {
    const beat = async (dsaCore: string, hostname: string) => {
      const result = await dsaControl(dsaCore, hostname, ['-m'])
      expect(result.exitCode, `${hostname}: ${result.stdout}${result.stderr}`).toBe(0)
    }

    const outbound = newDsaCore()
    expect((await dsaControl(outbound, 'outbound.test', ['-a', manager.url])).stdout).toContain('HTTP Status: 200 - OK')
    const inbound = await startAgent(newDsaCore(), {hostname: 'inbound.test'})
    daemons.push(inbound)
    expect((await tether(['manager', 'activate', inbound.address], env)).exitCode).toBe(0)
    expect((await tether(['manager', 'computers', 'set', 'inbound.test', '--mode', 'manager-initiated', '--heartbeat-interval', '2'], env)).exitCode).toBe(0)
    const sleeper = newDsaCore() // back only after activate, holding the old CA alone
    expect((await dsaControl(sleeper, 'sleeper.test', ['-a', manager.url])).stdout).toContain('HTTP Status: 200 - OK')
    const laggard = newDsaCore() // never back: stranded at retire
    expect((await dsaControl(laggard, 'laggard.test', ['-a', manager.url])).stdout).toContain('HTTP Status: 200 - OK')
    const token = json(await tether(['manager', 'tokens', 'create', '--uses', '5', '--json'], env))

    const oldCa = path.join(tempDir(), 'old-ca.crt')
    fs.copyFileSync(path.join(home, 'ca.crt'), oldCa)
    expect((await status()).phase).toBe('none')

    // prepare: a new CA, cross-signed by the old; agents get both at their next contact.
    const prepared = json(await tether(['manager', 'ca', 'rotate', 'prepare', '--json'], env))
    expect(prepared.phase).toBe('prepared')
    expect(prepared.new.sha256).not.toBe(prepared.old.sha256)
    expect(prepared.issuing.sha256).toBe(prepared.old.sha256)
    const newCa = path.join(home, 'ca-next.crt')
    expect(await issuedBy(oldCa, path.join(home, 'ca-next-cross.crt'))).toBe(true)
    expect(fs.statSync(path.join(home, 'ca-next.key')).mode & 0o777).toBe(0o600)
    await reloaded('prepared')
    await beat(outbound, 'outbound.test')
    expect(cas(outbound)).toBe(2)
    await eventually(() => cas(inbound.dsaCore) === 2, 20_000, 'the manager giving inbound.test both CAs')
    expect(cas(sleeper)).toBe(1)

    // activate: the new CA issues, the manager's own certificate is of it, agents move as they contact.
    const activated = json(await tether(['manager', 'ca', 'rotate', 'activate', '--json'], env))
    expect(activated.phase).toBe('active')
    expect(activated.issuing.sha256).toBe(prepared.new.sha256)
    expect(await issuedBy(newCa, path.join(home, 'manager.crt'))).toBe(true)
    await reloaded('active')
    await beat(outbound, 'outbound.test')
    expect(await issuedBy(newCa, path.join(outbound, 'ds_agent.crt'))).toBe(true)
    await eventually(async () => issuedBy(newCa, path.join(inbound.dsaCore, 'ds_agent.crt')), 30_000, 'the manager renewing inbound.test onto the new CA')

    // The agent that holds only the old CA reaches the manager through the cross-signed certificate.
    await beat(sleeper, 'sleeper.test')
    expect(cas(sleeper)).toBe(2)
    expect(await issuedBy(newCa, path.join(sleeper, 'ds_agent.crt'))).toBe(true)

    // A token made before the rotation pins the old CA: it still activates, onto the new CA.
    const late = newDsaCore()
    expect((await dsaControl(late, 'late.test', ['-a', manager.url, `token:${token.token}`])).stdout).toContain('HTTP Status: 200 - OK')
    expect(await issuedBy(newCa, path.join(late, 'ds_agent.crt'))).toBe(true)

    // The preview: exactly the laggard, and the token retire would end.
    const preview = await status()
    expect(preview.computers).toMatchObject({onNewCa: 4})
    const retireStep = preview.steps.find((s: {step: string}) => s.step === 'retire')
    expect(retireStep.wouldStrand.map((c: {hostname: string}) => c.hostname)).toEqual(['laggard.test'])
    expect(retireStep.wouldStrand[0]).toMatchObject({id: expect.any(Number), hostname: 'laggard.test', certificateCa: 'old'})
    expect(retireStep.tokensEnded).toEqual([token.id])

    // Retire refuses while it would strand, and changes nothing.
    const before = snapshot(home)
    const refused = await tether(['manager', 'ca', 'rotate', 'retire'], env)
    expect(refused.exitCode).not.toBe(0)
    expect(refused.stderr).toMatch(/strand 1 computer.*laggard\.test/)
    expect(refused.stderr).toMatch(/--force/)
    expect(snapshot(home)['ca-rotation.json']).toBe(before['ca-rotation.json'])
    expect(snapshot(home)['ca.crt']).toBe(before['ca.crt'])

    // Rollback to prepared: the old CA issues again; every agent keeps working. Then forward again.
    const rolledBack = json(await tether(['manager', 'ca', 'rotate', 'rollback', '--json'], env))
    expect(rolledBack.phase).toBe('prepared')
    expect(await issuedBy(oldCa, path.join(home, 'manager.crt'))).toBe(true)
    await reloaded('prepared')
    await beat(outbound, 'outbound.test')
    // Rollback from prepared would strand the agents now on the new CA: refused, naming them.
    const back = await tether(['manager', 'ca', 'rotate', 'rollback'], env)
    expect(back.exitCode).not.toBe(0)
    expect(back.stderr).toMatch(/still hold a certificate of the new CA/)
    expect(json(await tether(['manager', 'ca', 'rotate', 'activate', '--json'], env)).phase).toBe('active')
    await reloaded('active')
    await beat(outbound, 'outbound.test')
    await beat(sleeper, 'sleeper.test')
    // inbound.test is polled every 2 s: while rolled back it may have been moved to the old CA (the
    // issuing one then), and the manager moves it onto the new one again at a later contact.
    await eventually(async () => issuedBy(newCa, path.join(inbound.dsaCore, 'ds_agent.crt')), 30_000, 'the manager renewing inbound.test onto the new CA again')

    // Forced retire: the new CA is the only one; the laggard is marked and listed with the command.
    const laggardId = (await computer('laggard.test')).id
    const retired = json(await tether(['manager', 'ca', 'rotate', 'retire', '--force', '--json'], env))
    expect(retired.phase).toBe('none')
    expect(retired.stranded.map((c: {id: number}) => c.id)).toEqual([laggardId])
    expect(retired.tokensEnded).toEqual([token.id])
    expect(retired.issuing.sha256).toBe(prepared.new.sha256)
    expect(fs.readFileSync(path.join(home, 'ca.crt'), 'utf8')).toBe(fs.readFileSync(path.join(inbound.dsaCore, 'ds_agent_dsm_ca.crt'), 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/).find((pem) => pem.trim() && !fs.readFileSync(oldCa, 'utf8').includes(pem.trim())))
    expect(fs.existsSync(path.join(home, 'ca-next.key'))).toBe(false)
    expect(retired.needsReactivation).toEqual([expect.objectContaining({id: laggardId, hostname: 'laggard.test', command: expect.stringContaining('dsa_control -r')})])
    expect((await computer('laggard.test')).state).toBe('reactivation-required')

    await reloaded('none')
    await beat(outbound, 'outbound.test')
    expect(cas(outbound)).toBe(1)
    await beat(sleeper, 'sleeper.test')
    await beat(late, 'late.test')
    // The laggard holds only the old CA's certificate: refused, and nothing on it changed.
    // (Its database only journals the refused handshake.)
    const credentialsOf = (dsaCore: string) => Object.fromEntries(Object.entries(snapshot(dsaCore)).filter(([name]) => name !== 'ds_agent.db'))
    const untouched = credentialsOf(laggard)
    const stranded = await dsaControl(laggard, 'laggard.test', ['-m'])
    expect(stranded.exitCode).not.toBe(0)
    expect(credentialsOf(laggard)).toEqual(untouched)
    // The token ended with the old CA.
    const afterToken = await dsaControl(newDsaCore(), 'after.test', ['-a', manager.url, `token:${token.token}`])
    expect(afterToken.exitCode).not.toBe(0)
  }, 240_000)
})
