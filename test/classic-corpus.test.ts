import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {ResultPromise, execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DAEMON_LOCK} from '../src/agent/control.js'
import {readProxySettings} from '../src/agent/proxy-settings.js'
import {DsaCore} from '../src/agent/store.js'
import {bootstrapIdentity} from '../src/pki/bootstrap.js'
import {agent, boundDsaCore, listener, newDsaCore} from './agents.js'
import {CliResult, ROOT, eventually, initManager, json, run, tempDir, tether} from './helpers.js'
import {onPty} from './pty.js'
import {withStore} from './stores.js'

/**
 * The classic surface as provisioning scripts really use it (issue 13): each documented form run
 * through the real executables against a real manager and agent, checked as the scripts check
 * it: the exit code, and the lines they grep.
 */

let home: string
let env: Record<string, string>
let url: string
let port: number
let names = 0

const hostnames = new Map<string, string>()

/** A script's dsa_control: no daemon unless one was started; each agent keeps one hostname of its own. */
function dsa(dsaCore: string, args: string[], extra: {host?: string} = {}): Promise<CliResult> {
  if (extra.host) hostnames.set(dsaCore, extra.host)
  if (!hostnames.has(dsaCore)) hostnames.set(dsaCore, `corpus-${++names}.test`)
  return run('dsa_control', args, {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: hostnames.get(dsaCore)!})
}

const dsmC = (args: string[]) => run('dsm_c', args, env)
const query = (dsaCore: string, args: string[]) => run('dsa_query', args, {TETHER_DSA_CORE: dsaCore})
const computers = () => withStore(home, (store) => store.computers.list())
const lines = (result: CliResult) => result.stdout.trim().split('\n')

async function activated(args: string[] = [], extra: {host?: string} = {}): Promise<{dsaCore: string; result: CliResult}> {
  const dsaCore = newDsaCore()
  const result = await dsa(dsaCore, ['-a', url, '--max-dsm-retries', '0', ...args], extra)
  expect(result.exitCode, result.stderr).toBe(0)
  return {dsaCore, result}
}

/** The agent's state read in process (the CLI's own output is what the other checks are about). */
function agentStatus(dsaCore: string) {
  return new DsaCore(dsaCore).status()
}

async function certSha256(dsaCore: string): Promise<string> {
  return agentStatus(dsaCore).certificateHash.sha256
}

const identity = () => withStore(home, (store) => store.meta.identity())

async function computerOf(dsaCore: string) {
  const sha = await certSha256(dsaCore)
  return (await computers()).find((c) => c.certSha256 === sha)
}

beforeAll(async () => {
  ;({home, env} = await initManager(tempDir()))
  const manager = await listener(home)
  ;({url, port} = manager)
  expect((await dsmC(['-action', 'changesetting', '-name', 'settings.configuration.agentInitiatedActivation', '-Value', '1'])).exitCode).toBe(0)
  const file = path.join(tempDir(), 'p.json')
  fs.writeFileSync(file, '{"firewall": {"enabled": true}}')
  expect((await tether(['manager', 'policies', 'create', 'Base Policy', '--file', file], env)).exitCode).toBe(0)
  fs.writeFileSync(file, '{"selfProtection": {"password": "guard-pw-1"}}')
  expect((await tether(['manager', 'policies', 'create', 'Protected', '--file', file], env)).exitCode).toBe(0)
})

describe('dsa_control -a', () => {
  it('activates with words, prints the classic session, and delivers the policy inside it', async () => {
    const {dsaCore, result} = await activated(['policy:base POLICY', 'displayName:web 01', 'group:Servers//Web/', 'description:front: tier', 'externalid:ext-7', 'relayid:3'])
    const out = lines(result)
    expect(out[0]).toBe('HTTP Status: 200 - OK')
    expect(out[1]).toBe(`Attempting to connect to https://127.0.0.1:${port}/`)
    expect(out[2]).toBe('SSL handshake completed successfully - initiating command session.')
    const received = out.filter((l) => /^Received a '\w+' command from the manager\.$/.test(l))
    expect(received.length).toBeGreaterThanOrEqual(5)
    expect(received).toContain("Received a 'GetHostInfo' command from the manager.")
    // The policy arrived before the session ended, not at a heartbeat ten minutes later.
    expect(out.indexOf("Received a 'SetSecurityConfiguration' command from the manager.")).toBeGreaterThan(out.indexOf("Received a 'SetAgentCredentials' command from the manager."))
    expect(out.at(-1)).toBe('Command session completed.')
    expect(result.stderr).toBe('')
    expect(agentStatus(dsaCore).configuration).toMatchObject({policy: 'Base Policy', version: 1})
    expect(await computerOf(dsaCore)).toMatchObject({displayName: 'web 01', group: 'Servers/Web', description: 'front: tier', policy: 'Base Policy', hostInfo: {activationRequest: {externalid: 'ext-7', relayid: '3'}}})
    // Words tether keeps without acting on are shown.
    expect((await tether(['manager', 'computers', 'show', (await computerOf(dsaCore))!.guid], env)).stdout).toMatch(/Classic words:\s+relayid:3 externalid:ext-7/)

    // Ansible's check: the hash is no longer tether's bootstrap hash; the state is green.
    const hash = (await query(dsaCore, ['-c', 'GetAgentStatus', 'agentCertHash'])).stdout.trim()
    expect(hash).toMatch(/^AgentStatus\.agentCertHash: ([0-9A-F]{2}:){19}[0-9A-F]{2}$/)
    expect(hash).not.toContain(bootstrapIdentity().sha1)
    const status = (await query(dsaCore, ['--cmd', 'GetAgentStatus'])).stdout
    expect(status).toContain('AgentStatus.agentState: green')
    expect(status).toContain(`AgentStatus.dsmUrl: https://127.0.0.1:${port}/`)
    expect(status).toMatch(/AgentStatus\.dsmDN: CN=/)
    expect(status).toMatch(/AgentStatus\.dsmCertHash: ([0-9A-F]{2}:){19}/)

    const xml = await run('sendCommand', ['--get', 'GetConfiguration'], {TETHER_DSA_CORE: dsaCore})
    const body = lines(xml).slice(3).join('\n')
    expect(lines(xml).slice(0, 3)).toEqual(['HTTP Status: 200 - OK', 'Response:', ''])
    const computer = (await computerOf(dsaCore))!
    const tenantId = (await identity()).tenantId
    expect(body).toMatch(new RegExp(`<AgentConfiguration hostID="${computer.id}" hostGUID="${computer.guid}" tenantGUID="${tenantId}" dsmUrls="dsm://127.0.0.1:${port}/">`))
    const policyId = json(await tether(['manager', 'policies', 'show', 'Base Policy', '--json'], env)).id
    expect(body).toMatch(new RegExp(`<SecurityProfile id="${policyId}" name="Base Policy"`))
    expect((await run('sendCommand', ['--cmd', 'GetAgentStatus', 'agentState'], {TETHER_DSA_CORE: dsaCore})).stdout.trim()).toBe('AgentStatus.agentState: green')
  })

  it('URL forms: no trailing slash, no port; policyid by numeric id; tenantPassword is the token', async () => {
    const policyId = json(await tether(['manager', 'policies', 'show', 'Base Policy', '--json'], env)).id
    const {dsaCore} = await activated([`policyID:${policyId}`, 'tenantPassword:unused'])
    expect((await computerOf(dsaCore))?.policy).toBe('Base Policy')
    const noSlash = newDsaCore()
    const result = await dsa(noSlash, ['-a', url.replace(/\/$/, ''), '--max-dsm-retries', '0'])
    expect(result.exitCode).toBe(0)
    // No port means 4120, which nothing here listens on: unreachable (503), not a usage error.
    const noPort = await dsa(newDsaCore(), ['-a', 'dsm://127.0.0.1', '--max-dsm-retries', '0'])
    expect(lines(noPort)[0]).toBe('HTTP Status: 503 - Service Unavailable')
    expect(noPort.exitCode).toBe(6)
    expect(noPort.stderr).toContain('127.0.0.1:4120')
  })

  it('an unknown key is a warning; a policy not found activates without one and says so', async () => {
    const {dsaCore, result} = await activated(['colour:blue', 'policy:No Such Policy'])
    expect(result.stderr).toMatch(/Warning: unknown keyword "colour:" ignored/)
    expect(result.stderr).toMatch(/Warning: policy "No Such Policy" not found; no policy assigned/)
    expect(lines(result)[0]).toBe('HTTP Status: 200 - OK')
    expect((await computerOf(dsaCore))?.policy).toBeNull()
  })

  it('refusals: one status line, an Error: line, exit code agreeing with the status; a refusal is not retried', async () => {
    const {dsaCore} = await activated()
    const again = await dsa(dsaCore, ['-a', url])
    expect(lines(again).at(-1)).toBe('HTTP Status: 403 - Forbidden - reset agent first')
    expect(again.exitCode).toBe(4)
    expect(again.stderr).toMatch(/^Error: this agent is already activated/m)

    const bound = await boundDsaCore(env)
    const refused = await dsa(bound, ['-a', url, '--max-dsm-retries', '0'])
    expect(lines(refused)).toEqual(['HTTP Status: 403 - Forbidden'])
    expect(refused.exitCode).toBe(4)
    expect(refused.stderr).toMatch(/bound to the manager with certificate SHA-256/)

    await dsmC(['-action', 'changesetting', '-name', 'activationToken', '-value', 'tok-123'])
    const started = Date.now()
    // Default retries (30 x 300 s) would take hours if a refusal were retried.
    const wrong = await dsa(newDsaCore(), ['-a', url, 'token:nope'])
    await dsmC(['-action', 'changesetting', '-name', 'activationToken', '-value', ''])
    expect(Date.now() - started).toBeLessThan(20_000)
    const statusText = lines(wrong).find((l) => l.startsWith('HTTP Status:'))!
    const status = Number(/HTTP Status: (\d+)/.exec(statusText)![1])
    expect(status).not.toBe(200)
    expect([401, 403]).toContain(status)
    expect(wrong.exitCode).toBe(status === 401 ? 5 : 4)
    expect(wrong.stderr).toMatch(/^Error: .*token/m)
    expect(lines(wrong)[0]).toBe('Activation will be re-attempted 30 time(s) in case of failure')

    await dsmC(['-action', 'changesetting', '-name', 'duplicateNamePolicy', '-value', 'refuse'])
    const host = `dup-${Date.now()}.test`
    await activated([], {host})
    const duplicate = await dsa(newDsaCore(), ['-a', url, '--max-dsm-retries', '0'], {host})
    await dsmC(['-action', 'changesetting', '-name', 'duplicateNamePolicy', '-value', 'new'])
    expect(lines(duplicate)[0]).toBe('HTTP Status: 409 - Conflict')
    expect(duplicate.exitCode).toBe(4)
  })

  it('retries only what may pass: an unreachable manager N times, announced, then 503', async () => {
    const free = await freePort()
    const started = Date.now()
    const result = await dsa(newDsaCore(), ['-a', `dsm://127.0.0.1:${free}/`, '--max-dsm-retries', '2', '--dsm-retry-interval', '1'])
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000)
    expect(lines(result)[0]).toBe('Activation will be re-attempted 2 time(s) in case of failure')
    expect(lines(result)[1]).toBe('HTTP Status: 503 - Service Unavailable')
    expect(lines(result).filter((l) => l.startsWith(`Attempting to connect to https://127.0.0.1:${free}/`))).toHaveLength(3)
    expect(lines(result).filter((l) => /^Activation attempt \d failed/.test(l))).toHaveLength(2)
    expect(result.exitCode).toBe(6)
    for (const bad of [['--max-dsm-retries', '101'], ['--dsm-retry-interval', '0']]) {
      expect((await dsa(newDsaCore(), ['-a', url, ...bad])).exitCode, bad.join(' ')).toBe(2)
    }
  })
})

describe('dsa_control -m, -r and the rest', () => {
  it('-m: exactly the status line and nothing on stderr; words change the computer; UpdateConfiguration sends the policy now', async () => {
    const {dsaCore} = await activated(['displayname:before'])
    const beat = await dsa(dsaCore, ['-m'])
    expect(beat.stdout).toBe('HTTP Status: 200 - OK')
    expect(beat.stderr).toBe('')
    expect(beat.exitCode).toBe(0)

    const changed = await dsa(dsaCore, ['-m', 'displayname:after', 'Description:changed', 'group:A/B', 'policy:base policy', 'relaygroup:rg'])
    expect(changed.stdout).toBe('HTTP Status: 200 - OK')
    expect(await computerOf(dsaCore)).toMatchObject({displayName: 'after', description: 'changed', group: 'A/B', policy: 'Base Policy', hostInfo: {classicWords: {relaygroup: 'rg'}}})
    // The new policy was delivered in that same contact.
    expect(agentStatus(dsaCore).configuration?.policy).toBe('Base Policy')

    const file = path.join(tempDir(), 'v2.json')
    fs.writeFileSync(file, '{"firewall": {"enabled": false}}')
    await tether(['manager', 'policies', 'create', 'Base Policy', '--file', file, '--replace'], env)
    const update = await dsa(dsaCore, ['-m', 'UpdateConfiguration:true'])
    expect(update.stdout).toBe('HTTP Status: 200 - OK')
    expect(agentStatus(dsaCore).configuration?.version).toBe(2)

    const missing = await dsa(dsaCore, ['-m', 'policyid:999999'])
    expect(missing.exitCode).toBe(0)
    expect(missing.stderr).toMatch(/policy id 999999 not found/)
  })

  it('-m: engine words and --buildBaseline/--scanForChanges are recorded and noted, exit 0', async () => {
    const {dsaCore} = await activated()
    const scan = await dsa(dsaCore, ['-m', 'RecommendationScan:true', 'AntiMalwareManualScan:true'])
    expect(scan.exitCode).toBe(0)
    expect(lines(scan)[0]).toBe('HTTP Status: 200 - OK')
    expect(scan.stdout).toMatch(/Note: RecommendationScan: tether has no recommendation engine/)
    expect(scan.stdout).toMatch(/Note: AntiMalwareManualScan: tether has no anti-malware engine/)
    for (const option of ['--buildBaseline', '--scanForChanges']) {
      const result = await dsa(dsaCore, [option])
      expect(result.exitCode, option).toBe(0)
      expect(result.stdout).toMatch(/Note: (RebuildBaseline|IntegrityScan): tether has no integrity monitoring engine/)
    }

    // Picked up by the manager at that heartbeat (the two integrity words wait for the next one).
    const computer = (await computerOf(dsaCore))!
    const events = json(await tether(['manager', 'events', '--computer', String(computer.id), '--type', 'on-demand-unsupported', '--json'], env)).events
    expect(events.map((e: {detail: {word: string}}) => e.detail.word).sort()).toEqual(['AntiMalwareManualScan', 'RecommendationScan'])
  })

  it('-t N retries reaching the local agent service (its lock held while it starts), 1 s apart', async () => {
    const {dsaCore} = await activated()
    const lockFile = path.join(dsaCore, DAEMON_LOCK)
    // Another process holds the daemon lock (an agent starting) until told to let go.
    const hold = async () => {
      const child = execa(process.execPath, [path.join(ROOT, 'test', 'fixtures', 'lock-holder.mjs'), 'hold', dsaCore, DAEMON_LOCK, path.join(tempDir(), 'released')], {reject: false, stdin: 'pipe', buffer: {stdout: false}})
      await new Promise<void>((resolve) => child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve()))
      return {release: async () => {
        child.stdin!.write('release\n')
        await child
      }}
    }

    const first = await hold()
    const without = await dsa(dsaCore, ['-m'])
    await first.release()
    expect(without.exitCode).toBe(4)
    expect(without.stderr).toMatch(/is locked by process/)

    const second = await hold()
    const retried = execa(process.execPath, [path.join(ROOT, 'bin', 'dsa_control'), '-m', '-t', '30'], {reject: false, env: {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: hostnames.get(dsaCore)!, NO_COLOR: '1'}})
    // Let go only once it has been trying for longer than one attempt waits (2 s): -t is what carries it.
    await eventually(() => hasOpen(retried.pid!, fs.realpathSync(lockFile)), 60_000, 'dsa_control -m -t trying for the lock')
    await new Promise((resolve) => setTimeout(resolve, 3000))
    await second.release()
    const result = await retried
    expect(String(result.stdout), String(result.stderr)).toBe('HTTP Status: 200 - OK')
  })

  it('-m on a manager-initiated computer says it never opens a connection', async () => {
    const {dsaCore} = await activated()
    const computer = (await computerOf(dsaCore))!
    expect((await tether(['manager', 'computers', 'set', String(computer.id), '--mode', 'manager-initiated'], env)).exitCode).toBe(0)
    // The agent learns its mode at its next contact: one heartbeat, then it stops dialling.
    await dsa(dsaCore, ['-m'])
    const result = await dsa(dsaCore, ['-m'])
    expect(result.stdout).toBe('HTTP Status: 403 - Forbidden')
    expect(result.exitCode).toBe(4)
    expect(result.stderr).toMatch(/manager-initiated mode/)
  })

  it('-r: 200, idempotent, honours --dsa-core wherever it is, keeps the proxy; refuses a bound agent; --unbind clears it', async () => {
    const {dsaCore} = await activated()
    const other = newDsaCore()
    expect((await dsa(other, ['-x', 'dsm_proxy://127.0.0.1:3128/'])).exitCode).toBe(0)
    // TETHER_DSA_CORE names `other`; --dsa-core after -r names the agent to reset.
    const reset = await dsa(other, ['-r', '--dsa-core', dsaCore])
    expect(lines(reset)[0]).toBe('HTTP Status: 200 - OK')
    expect(agentStatus(dsaCore).state).toBe('unactivated')
    const twice = await dsa(other, ['--reset', '--dsa-core', dsaCore])
    expect(lines(twice)[0]).toBe('HTTP Status: 200 - OK')
    expect((await dsa(other, ['-r'])).exitCode).toBe(0)
    expect(readProxySettings(new DsaCore(other)).dsmProxy).toBe('dsm_proxy://127.0.0.1:3128/')

    const bound = await boundDsaCore(env)
    const fp = json(await tether(['manager', 'show', '--json'], env)).manager.sha256
    const refused = await dsa(bound, ['-r'])
    expect(refused.stdout.trim()).toBe('HTTP Status: 403 - Forbidden')
    expect(refused.exitCode).toBe(4)
    expect(refused.stderr).toContain(`bound to the manager with certificate SHA-256 ${fp}`)
    expect(refused.stderr).toContain('tether agent reset --unbind')
    expect(agentStatus(bound).state).toBe('pre-activated')
    expect((await tether(['agent', 'reset', '--unbind', '--yes', '--dsa-core', bound])).exitCode).toBe(0)
    expect(agentStatus(bound).state).toBe('unactivated')

    const nowhere = await dsa(path.join(tempDir(), 'no', 'such', 'dsa_core'), ['-r'])
    expect(nowhere.exitCode).toBe(3)
    expect(nowhere.stderr).toMatch(/there is no agent at/)
  })

  it('usage errors exit 2 and name the classic options; unsupported options say so', async () => {
    const dsaCore = newDsaCore()
    for (const [args, message] of [
      [[], /no action given/],
      [['-r', '-a', url], /-r and -a are two actions/],
      [['-z'], /unknown option "-z"/],
      [['-r', 'extra'], /unexpected argument "extra"/],
      [['-b'], /not supported by tether/],
      [['-g', url], /not supported by tether/],
    ] as const) {
      const result = await dsa(dsaCore, [...args])
      expect(result.exitCode, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(message)
      expect(result.stderr).not.toMatch(/--yes|tether agent/)
    }

    expect(fs.existsSync(path.join(dsaCore, 'ds_agent.key'))).toBe(false)
    const help = await dsa(dsaCore, ['-h'])
    expect(help.exitCode).toBe(0)
    expect(help.stdout).toContain('usage: dsa_control [-a <str>] [-b] [-c <str>] [-d]')
  })
})

describe('dsa_control -x/-u through a real HTTP CONNECT proxy (tinyproxy)', () => {
  let proxy: {port: number; log: string; child: ResultPromise}
  beforeAll(async () => {
    proxy = await startTinyproxy({user: 'proxyuser', password: 'proxy-pw-77'})
  })

  afterAll(async () => {
    proxy.child.kill('SIGTERM')
    await proxy.child.catch(() => undefined)
  })

  it('activation and heartbeats go through the proxy with Basic credentials; wrong credentials say so; "" removes', async () => {
    const dsaCore = newDsaCore()
    const set = await dsa(dsaCore, ['-x', `dsm_proxy://127.0.0.1:${proxy.port}/`])
    expect(lines(set)[0]).toBe('HTTP Status: 200 - OK')
    const noAuth = await dsa(dsaCore, ['-a', url, '--max-dsm-retries', '0'])
    expect(noAuth.exitCode).not.toBe(0)
    expect(noAuth.stderr).toMatch(/refused the tunnel.*407/)

    expect((await dsa(dsaCore, ['-u', 'proxyuser:proxy-pw-77'])).exitCode).toBe(0)
    expect(fs.statSync(path.join(dsaCore, 'ds_agent.proxy.json')).mode & 0o777).toBe(0o600)
    const status = await tether(['agent', 'status', '--dsa-core', dsaCore])
    expect(status.stdout).toContain(`dsm_proxy://127.0.0.1:${proxy.port}/ (user proxyuser)`)
    expect(status.stdout + status.stderr).not.toContain('proxy-pw-77')

    const through = await dsa(dsaCore, ['-a', url, '--max-dsm-retries', '0'])
    expect(through.exitCode, through.stderr).toBe(0)
    const connects = () => fs.readFileSync(proxy.log, 'utf8').split('\n').filter((l) => l.includes(`CONNECT 127.0.0.1:${port} `)).length
    // The activation and its mutual-TLS confirmation: two tunnels.
    await eventually(() => connects() >= 2, 5000, 'the proxy to log the activation tunnels')
    const before = connects()
    expect((await dsa(dsaCore, ['-m'])).stdout).toBe('HTTP Status: 200 - OK')
    await eventually(() => connects() === before + 1, 5000, 'the heartbeat tunnel')

    expect((await dsa(dsaCore, ['-u', 'proxyuser:wrong'])).exitCode).toBe(0)
    const wrong = await dsa(dsaCore, ['-m'])
    expect(wrong.stdout).toBe('HTTP Status: 401 - Unauthorized')
    expect(wrong.exitCode).toBe(5)
    expect(wrong.stderr).toMatch(/credentials are wrong/)

    expect((await dsa(dsaCore, ['-x', ''])).exitCode).toBe(0)
    const tunnels = connects()
    const direct = await dsa(dsaCore, ['-m'])
    expect(direct.stdout).toBe('HTTP Status: 200 - OK')
    // Straight to the manager now: the proxy saw nothing more.
    expect(connects()).toBe(tunnels)
    expect((await dsa(dsaCore, ['-x', 'http://nope/'])).exitCode).toBe(2)
    expect((await dsa(dsaCore, ['-y', 'relay_proxy://[::1]:8080/'])).stdout).toContain('relay_proxy://[::1]:8080/ (stored; tether has no relays)')
  })
})

describe('dsa_control -d and self-protection', () => {
  it('-d writes a zip beside dsa_core with status, settings, journal, certificates and log, and no secret', async () => {
    const dsaCore = newDsaCore()
    expect((await dsa(dsaCore, ['-x', 'dsm_proxy://127.0.0.1:9/', '-u', 'diaguser:diag-secret-pw'])).exitCode).toBe(0)
    expect((await dsa(dsaCore, ['-x', ''])).exitCode).toBe(0)
    const daemon = await agent(dsaCore, {hostname: 'diag.test', args: ['--log-format', 'json']})
    const token = 'diag-token-42'
    await dsmC(['-action', 'changesetting', '-name', 'activationToken', '-value', token])
    const up = await dsa(dsaCore, ['-a', url, `token:${token}`, '--max-dsm-retries', '0'])
    await dsmC(['-action', 'changesetting', '-name', 'activationToken', '-value', ''])
    expect(up.exitCode, up.stderr).toBe(0)
    await daemon.log.line((l) => l.includes('control-done'), 'the activation in the daemon log')
    const result = await dsa(dsaCore, ['-d'])
    expect(result.exitCode, result.stderr).toBe(0)
    const dir = /^path = (.+)$/m.exec(result.stdout)![1]
    const name = /^file name = (.+)$/m.exec(result.stdout)![1]
    expect(dir).toBe(path.join(path.dirname(dsaCore), 'diag'))
    const zip = path.join(dir, name)
    const listing = execFileSync('unzip', ['-l', zip], {encoding: 'utf8'})
    for (const entry of ['status.json', 'settings.json', 'journal.jsonl', 'events.json', 'versions.txt', 'certificates/ds_agent.crt', 'certificates/ds_agent_dsm_ca.crt', 'log/ds_agent.log']) expect(listing).toContain(entry)
    expect(listing).not.toMatch(/ds_agent\.key|ds_agent\.config/)
    const all = execFileSync('python3', ['-c', 'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); sys.stdout.write("".join(z.read(n).decode() for n in z.namelist()))', zip], {encoding: 'utf8'})
    expect(all).toContain('control-request')
    expect(all).not.toContain('PRIVATE KEY')
    expect(all).not.toContain(token)
    expect(all).not.toContain('diag-secret-pw')
    expect(all).toContain('diaguser')
  })

  it('a policy password guards -r, -m, -s, -u, -d; never -a or -x; the agent keeps only a slow hash', async () => {
    const {dsaCore} = await activated(['policy:Protected'])
    const stored = fs.readFileSync(path.join(dsaCore, 'ds_agent.selfprotect.json'), 'utf8')
    expect(stored).not.toContain('guard-pw-1')
    expect(JSON.parse(stored).password).toMatchObject({N: 32_768, r: 8, p: 1})
    for (const args of [['-r'], ['-m'], ['-s', '0'], ['-u', 'a:b'], ['-d']]) {
      const refused = await dsa(dsaCore, args)
      expect(refused.exitCode, args.join(' ')).toBe(4)
      expect(refused.stdout, args.join(' ')).toBe('HTTP Status: 403 - Forbidden')
      expect(refused.stderr).toMatch(/self-protected/)
    }

    const wrong = await dsa(dsaCore, ['-r', '-p', 'guess'])
    expect(wrong.exitCode).toBe(4)
    expect(wrong.stderr).toMatch(/password is wrong/)
    expect(agentStatus(dsaCore).state).toBe('activated')
    expect((await dsa(dsaCore, ['-x', 'dsm_proxy://127.0.0.1:9/'])).exitCode).toBe(0)
    expect((await dsa(dsaCore, ['-x', ''])).exitCode).toBe(0)
    expect((await dsa(dsaCore, ['-m', '-p', 'guard-pw-1'])).stdout).toBe('HTTP Status: 200 - OK')
    // -p * asks on a terminal (never echoing), and is a usage error for a script.
    const noTerminal = await dsa(dsaCore, ['-s', '0', '-p', '*'])
    expect(noTerminal.exitCode).toBe(2)
    expect(noTerminal.stderr).toMatch(/no terminal to ask on/)
    const off = await onPty(['agent', 'self-protect', '0', '--password', '*', '--dsa-core', dsaCore], {expect: 'Self-protection password', answer: 'guard-pw-1'})
    expect(off.prompted).toBe(true)
    expect(off.exitCode).toBe(0)
    expect(off.terminal).toContain('Self-protection off')
    expect(off.terminal).not.toContain('guard-pw-1')
    expect((await dsa(dsaCore, ['-m'])).exitCode).toBe(0)
    expect((await dsa(dsaCore, ['-s', '1'])).exitCode).toBe(0)
    expect((await dsa(dsaCore, ['-r'])).exitCode).toBe(4)
    expect((await dsa(dsaCore, ['-r', '--passwd=guard-pw-1'])).exitCode).toBe(0)
    // Reset: the configuration and its password are gone; -a needs no password.
    // (Under another name: whatever duplicateNamePolicy says, this is a computer without a policy.)
    expect((await dsa(dsaCore, ['-a', url, '--max-dsm-retries', '0'], {host: `unprotected-${Date.now()}.test`})).exitCode).toBe(0)
    expect((await dsa(dsaCore, ['-m'])).exitCode).toBe(0)
  })
})

describe('dsm_c as provisioning scripts use it', () => {
  it('changesetting / viewsetting: classic keys, load balancer, stored-with-no-effect keys; unknown keys and options refused', async () => {
    const ok = async (args: string[]) => {
      const result = await dsmC(args)
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0)
      return result
    }

    await ok(['-action', 'changesetting', '-name', 'settings.configuration.systemLoadBalancerHeartbeatHostname', '-value', 'hb.example.internal'])
    await ok(['-ACTION', 'changesetting', '-NAME', 'settings.configuration.systemLoadBalancerHeartbeatPort', '-VALUE', '4122'])
    await ok(['-action', 'changesetting', '-name', 'settings.configuration.systemLoadBalancerManagerHostname', '-value', 'dsm.example.internal'])
    await ok(['-action', 'changesetting', '-name', 'settings.configuration.systemLoadBalancerManagerPort', '-value', '443'])
    await ok(['-action', 'changesetting', '-name', 'settings.configuration.systemLoadBalancerRelayHostname', '-value', 'relay.example.internal'])
    for (const key of ['settings.configuration.statusMonitoringAPIEnabled', 'settings.configuration.webserviceAPIEnabled', 'settings.configuration.dsruAutoApplyNewDSRUs', 'settings.security.sessionTimeout']) {
      const stored = await ok(['-action', 'changesetting', '-name', key, '-value', 'true'])
      expect(stored.stdout, key).toMatch(/stored; no effect: tether has no/)
      expect(json(await dsmC(['-action', 'viewsetting', '-name', key, '--json']))).toMatchObject({value: 'true', noEffect: expect.stringMatching(/tether has no/)})
    }

    const list = json(await tether(['manager', 'settings', 'list', '--json'], env)).settings
    expect(list.find((s: {name: string}) => s.name === 'loadBalancerHeartbeatHostname').value).toBe('hb.example.internal')
    expect(list.find((s: {name: string}) => s.name === 'settings.security.sessionTimeout')).toMatchObject({value: 'true'})

    // The running manager applies it without restart: new agents are told the load balancer.
    const {dsaCore} = await activated()
    expect(JSON.parse(fs.readFileSync(path.join(dsaCore, 'ds_agent.comm.json'), 'utf8')).managerAddress).toBe('hb.example.internal:4122')
    await ok(['-action', 'changesetting', '-name', 'settings.configuration.systemLoadBalancerHeartbeatHostname', '-value', ''])

    const unknown = await dsmC(['-action', 'changesetting', '-name', 'settings.configuration.noSuchThing', '-value', '1'])
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr).toMatch(/unknown setting/)
    const badOption = await dsmC(['-action', 'changesetting', '-name', 'x', '-value', '1', '-tenantname', 'T'])
    expect(badOption.exitCode).toBe(2)
    expect(badOption.stderr).toMatch(/does not take -tenantname/)
    const missing = await dsmC(['-action', 'viewsetting', '-name'])
    expect(missing.exitCode).toBe(2)
    expect(missing.stderr).toMatch(/-name needs a value/)
  })

  it('agentCommunications is the mode new computers get; relayState is set per computer', async () => {
    const view = async () => json(await dsmC(['-action', 'viewsetting', '-name', 'settings.configuration.agentCommunications', '--json']))
    expect(await view()).toMatchObject({value: 'bidirectional', classicValue: '3'})
    expect((await dsmC(['-action', 'changesetting', '-name', 'settings.configuration.agentCommunications', '-value', '1'])).exitCode).toBe(0)
    const {dsaCore} = await activated()
    expect((await computerOf(dsaCore))?.mode).toBe('agent-initiated')
    expect(JSON.parse(fs.readFileSync(path.join(dsaCore, 'ds_agent.comm.json'), 'utf8')).mode).toBe('agent-initiated')
    expect((await dsmC(['-action', 'changesetting', '-name', 'settings.configuration.agentCommunications', '-value', '3'])).exitCode).toBe(0)
    expect((await dsmC(['-action', 'changesetting', '-name', 'settings.configuration.agentCommunications', '-value', '4'])).exitCode).toBe(2)

    const computer = (await computerOf(dsaCore))!
    const relay = await dsmC(['-action', 'changesetting', '-computername', computer.hostname, '-name', 'settings.configuration.relayState', '-value', 'true'])
    expect(relay.exitCode, relay.stderr).toBe(0)
    expect(relay.stdout).toMatch(/tether has no relays/)
    expect(json(await dsmC(['-action', 'viewsetting', '-computername', computer.hostname, '-name', 'relayState', '--json']))).toMatchObject({value: 'true', computer: computer.guid})
    expect((await dsmC(['-action', 'changesetting', '-name', 'settings.configuration.relayState', '-value', 'true'])).exitCode).toBe(2)
    expect((await dsmC(['-action', 'changesetting', '-computername', 'nobody.test', '-name', 'relayState', '-value', 'true'])).exitCode).toBe(3)
  })

  it('exportdsmcert: -output DIR/ and an existing DIR write DIR/ds_agent_dsm.crt; own tenant accepted, others refused', async () => {
    const dir = tempDir()
    const slash = await dsmC(['-action', 'exportdsmcert', '-output', `${dir}/`])
    expect(slash.exitCode, slash.stderr).toBe(0)
    expect(fs.existsSync(path.join(dir, 'ds_agent_dsm.crt'))).toBe(true)
    const other = tempDir()
    expect((await dsmC(['-action', 'exportdsmcert', '-output', other])).exitCode).toBe(0)
    expect(fs.readFileSync(path.join(other, 'ds_agent_dsm.crt'), 'utf8')).toBe(fs.readFileSync(path.join(dir, 'ds_agent_dsm.crt'), 'utf8'))
    const tenantId = (await identity()).tenantId
    expect((await dsmC(['-action', 'exportdsmcert', '-output', `${tempDir()}/`, '-tenantname', 'primary'])).exitCode).toBe(0)
    expect((await dsmC(['-action', 'exportdsmcert', '-output', `${tempDir()}/`, '-TenantID', tenantId.toLowerCase()])).exitCode).toBe(0)
    const refused = await dsmC(['-action', 'exportdsmcert', '-output', `${tempDir()}/`, '-tenantname', 'Other Corp'])
    expect(refused.exitCode).toBe(4)
    expect(refused.stderr).toMatch(/not this manager's/)
    expect((await dsmC(['-action', 'exportdsmcert', '-output', path.join(tempDir(), 'wrong.crt')])).exitCode).toBe(2)
  })
})

/** Whether process `pid` has `file` open (Linux /proc; the lock file itself is never opened). */
function hasOpen(pid: number, file: string): boolean {
  const fds = `/proc/${pid}/fd`
  try {
    return fs.readdirSync(fds).some((fd) => {
      try {
        return fs.readlinkSync(path.join(fds, fd)) === file
      } catch {
        return false
      }
    })
  } catch {
    return false
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** tinyproxy on a free loopback port with Basic credentials, logging each CONNECT to a file. */
async function startTinyproxy(auth: {user: string; password: string}): Promise<{port: number; log: string; child: ResultPromise}> {
  const dir = tempDir('tether-proxy-')
  const port = await freePort()
  const log = path.join(dir, 'tinyproxy.log')
  const config = path.join(dir, 'tinyproxy.conf')
  fs.writeFileSync(config, [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 30', 'MaxClients 20', 'LogLevel Connect', `LogFile "${log}"`, `BasicAuth ${auth.user} ${auth.password}`, ''].join('\n'))
  const child = execa('tinyproxy', ['-d', '-c', config], {reject: false, stdio: 'ignore'})
  await eventually(async () => new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy()
      resolve(true)
    })
    socket.on('error', () => resolve(false))
  }), 10_000, 'tinyproxy to listen')
  return {port, log, child}
}
