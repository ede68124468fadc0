import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {LOCAL_STATUS_TEXT} from '../src/compat/status.js'
import {agent, boundDsaCore, listener, newDsaCore} from './agents.js'
import {BIN, CliResult, initManager, json, run, tempDir} from './helpers.js'

/**
 * The direct path (src/compat/direct.ts): the classic tools and `tether agent status|reset|
 * heartbeat|query` run without oclif. Each case runs the same command line both ways, direct and
 * through oclif (test/fixtures/oclif-route.mjs, as every command ran before), and compares exit
 * code, stdout and stderr; and counts the oclif and node-forge modules each loaded.
 */

// Preloaded into every process: at exit, how many oclif and forge modules were loaded (last line of stderr).
let probe: string
const HEAVY = /\n?heavy=(\d+)\n$/

interface Probed extends CliResult {
  heavy: number
}

async function probed(tool: keyof typeof BIN, args: string[], env: Record<string, string | undefined>): Promise<Probed> {
  const result = await run(tool, args, {...env, NODE_OPTIONS: `--require ${probe}`})
  const heavy = HEAVY.exec(`${result.stderr}\n`)
  expect(heavy, `${tool} ${args.join(' ')}: no probe line in ${result.stderr}`).not.toBeNull()
  return {...result, stderr: `${result.stderr}\n`.replace(HEAVY, ''), heavy: Number(heavy![1])}
}

const outcome = (r: CliResult) => ({exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr})

/**
 * Run `direct` (a classic tool, or tether) and the same command through oclif, from the same
 * state (`reset` puts it back before each): the same bytes and exit code, and oclif and forge only
 * in the oclif run. Returns the direct run.
 */
async function same(direct: [keyof typeof BIN, string[]], viaOclif: string[], env: Record<string, string | undefined>, options: {reset?: () => void; normalize?: (text: string) => string; directPath?: boolean} = {}): Promise<Probed> {
  options.reset?.()
  const a = await probed(direct[0], direct[1], env)
  options.reset?.()
  const b = await probed('oclif', viaOclif, env)
  const what = `${direct[0]} ${direct[1].join(' ')}`
  const normal = (r: CliResult) => {
    const o = outcome(r)
    return options.normalize ? {...o, stdout: options.normalize(o.stdout), stderr: options.normalize(o.stderr)} : o
  }

  expect(normal(a), what).toEqual(normal(b))
  expect(b.heavy, `${what} through oclif`).toBeGreaterThan(0)
  if (options.directPath === false) expect(a.heavy, `${what} is left to oclif`).toBeGreaterThan(0)
  else expect(a.heavy, `${what} loaded oclif or forge`).toBe(0)
  return a
}

/** A copy of `template` at `dir`, made anew before each run of a command that changes it. */
function restorer(template: string, dir: string): () => void {
  return () => {
    fs.rmSync(dir, {recursive: true, force: true})
    fs.cpSync(template, dir, {recursive: true})
  }
}

let managerEnv: Record<string, string>
let url: string
/** An activated agent whose policy sets the self-protection password "guard-pw-1", its daemon running. */
let guarded: string
/** An activated agent without self-protection, its daemon running. */
let running: string
/** An activated agent, no daemon (copied before each reset). */
let activatedTemplate: string

let agents = 0

/** Activate an agent (as a script does, no daemon); its hostname, for the daemon started on it. */
async function activate(dsaCore: string, words: string[] = []): Promise<string> {
  const hostname = `direct-${++agents}.test`
  const result = await run('dsa_control', ['-a', url, '--max-dsm-retries', '0', ...words], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: hostname})
  expect(result.exitCode, result.stderr).toBe(0)
  return hostname
}

beforeAll(async () => {
  probe = path.join(tempDir(), 'heavy-modules.cjs')
  fs.writeFileSync(probe, "process.on('exit', () => process.stderr.write(`heavy=${Object.keys(require.cache).filter((f) => /@oclif[\\\\/]core|node-forge/.test(f)).length}\\n`))\n")
  ;({env: managerEnv} = await initManager(tempDir()))
  ;({url} = await listener(managerEnv.TETHER_MANAGER_HOME))
  const file = path.join(tempDir(), 'p.json')
  fs.writeFileSync(file, '{"selfProtection": {"password": "guard-pw-1"}}')
  expect((await run('tether', ['manager', 'policies', 'create', 'Protected', '--file', file], managerEnv)).exitCode).toBe(0)
  guarded = newDsaCore()
  await agent(guarded, {hostname: await activate(guarded, ['policy:Protected'])})
  running = newDsaCore()
  await agent(running, {hostname: await activate(running)})
  activatedTemplate = newDsaCore()
  await activate(activatedTemplate)
}, 120_000)

describe('dsa_control -r and tether agent reset, direct and through oclif', () => {
  it('a fresh dsa_core, text and --json; tether agent reset takes the direct path too', async () => {
    const dsaCore = newDsaCore()
    fs.mkdirSync(dsaCore)
    const env = {TETHER_DSA_CORE: dsaCore}
    const text = await same(['dsa_control', ['-r']], ['agent', 'reset', '--yes'], env)
    expect(text.stdout).toBe('HTTP Status: 200 - OK\nAgent was already reset; nothing to remove')
    const asJson = await same(['dsa_control', ['-r', '--json']], ['agent', 'reset', '--yes', '--json'], env)
    expect(json(asJson)).toEqual({state: 'unactivated', dsaCore, previousState: 'unactivated', removed: []})
    await same(['tether', ['agent', 'reset', '--yes', '--dsa-core', dsaCore]], ['agent', 'reset', '--yes', '--dsa-core', dsaCore], {})
  })

  it('an activated agent: removes its credentials (the same files both ways, from the same copy)', async () => {
    const dsaCore = newDsaCore()
    const reset = restorer(activatedTemplate, dsaCore)
    const result = await same(['dsa_control', ['-r', '--dsa-core', dsaCore]], ['agent', 'reset', '--yes', '--dsa-core', dsaCore], {}, {reset})
    expect(result.stdout).toMatch(/^HTTP Status: 200 - OK\nAgent reset \(was activated\); removed ds_agent.key, /)
    await same(['dsa_control', ['-r', '--json']], ['agent', 'reset', '--yes', '--json'], {TETHER_DSA_CORE: dsaCore}, {reset})
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent.key'))).toBe(false)
  })

  it('failures: no agent, a bound agent, self-protection without or with a wrong password, -p * without a terminal', async () => {
    const missing = path.join(tempDir(), 'none', 'dsa_core')
    const none = await same(['dsa_control', ['-r']], ['agent', 'reset', '--yes'], {TETHER_DSA_CORE: missing})
    expect(none.exitCode).toBe(3)
    expect(none.stdout).toBe('HTTP Status: 404 - Not Found')
    expect(none.stderr).toMatch(/^Error: there is no agent at /)
    expect(json(await same(['dsa_control', ['-r', '--json']], ['agent', 'reset', '--yes', '--json'], {TETHER_DSA_CORE: missing})).error).toMatchObject({code: 'dsa-core-missing', exitCode: 3})

    const bound = await boundDsaCore(managerEnv)
    const refused = await same(['dsa_control', ['-r']], ['agent', 'reset', '--yes'], {TETHER_DSA_CORE: bound})
    expect(refused.exitCode).toBe(4)
    expect(refused.stderr).toMatch(/a local reset is refused by design/)

    const env = {TETHER_DSA_CORE: guarded}
    const protectedReset = await same(['dsa_control', ['-r']], ['agent', 'reset', '--yes'], env)
    expect(protectedReset.exitCode).toBe(4)
    expect(protectedReset.stdout).toBe('HTTP Status: 403 - Forbidden')
    expect(protectedReset.stderr).toMatch(/self-protected/)
    const wrong = await same(['dsa_control', ['-r', '-p', 'not-it', '--json']], ['agent', 'reset', '--yes', '--password', 'not-it', '--json'], env)
    expect(json(wrong).error).toMatchObject({code: 'self-protection-password-wrong', exitCode: 4})
    const ask = await same(['dsa_control', ['-r', '-p', '*']], ['agent', 'reset', '--yes', '--password', '*'], env)
    expect(ask.exitCode).toBe(2)
    // Without --yes and no terminal: refused, never asked.
    const noYes = newDsaCore()
    fs.mkdirSync(noYes)
    const script = await same(['tether', ['agent', 'reset', '--dsa-core', noYes]], ['agent', 'reset', '--dsa-core', noYes], {})
    expect(script.exitCode).toBe(2)
    expect(script.stderr).toMatch(/needs confirmation and there is no terminal to ask on; pass --yes/)
    expect(fs.existsSync(path.join(guarded, 'ds_agent.key'))).toBe(true)
  })

  it('the right self-protection password resets', async () => {
    // A copy without the daemon: the reset runs in the calling process.
    const template = newDsaCore()
    fs.cpSync(guarded, template, {recursive: true, filter: (file) => !file.endsWith('.sock')})
    const copy = newDsaCore()
    const result = await same(['dsa_control', ['-r', '-p', 'guard-pw-1']], ['agent', 'reset', '--yes', '--password', 'guard-pw-1'], {TETHER_DSA_CORE: copy}, {reset: restorer(template, copy)})
    expect(result.exitCode).toBe(0)
  })

  it('a command line the direct path does not take exactly goes to oclif, with the same result', async () => {
    const dsaCore = newDsaCore()
    fs.mkdirSync(dsaCore)
    // A password that starts with "-" is oclif's to read.
    await same(['dsa_control', ['-r', '-p', '-x']], ['agent', 'reset', '--yes', '--password', '-x'], {TETHER_DSA_CORE: dsaCore}, {directPath: false})
    await same(['tether', ['agent', 'reset', '--yes', '--yes']], ['agent', 'reset', '--yes', '--yes'], {TETHER_DSA_CORE: dsaCore}, {directPath: false})
    await same(['tether', ['agent', 'status', '--dsa-core', dsaCore, '--verbose']], ['agent', 'status', '--dsa-core', dsaCore, '--verbose'], {}, {directPath: false})
  })
})

describe('dsa_control -m, direct and through oclif', () => {
  // A heartbeat's time and the address it reached differ from one run to the next.
  const at = (text: string) => text.replace(/"at": "[^"]+"/, '"at": "AT"')

  it('through the running agent: text, --json, words with a warning, an engine word', async () => {
    const env = {TETHER_DSA_CORE: running}
    const text = await same(['dsa_control', ['-m']], ['agent', 'heartbeat'], env)
    expect(text.stdout, text.stderr).toBe('HTTP Status: 200 - OK')
    const asJson = await same(['dsa_control', ['-m', '--json']], ['agent', 'heartbeat', '--json'], env, {normalize: at})
    expect(json(asJson)).toMatchObject({status: 200, request: null, engineWords: []})
    const words = await same(['dsa_control', ['-m', 'description:direct path', 'colour:blue']], ['agent', 'heartbeat', '--', 'description:direct path', 'colour:blue'], env)
    expect(words.stderr).toMatch(/^Warning: unknown keyword "colour:" ignored/)
    const engine = await same(['dsa_control', ['-m', 'RebuildBaseline:true']], ['agent', 'heartbeat', '--', 'RebuildBaseline:true'], env)
    expect(engine.stdout).toBe('HTTP Status: 200 - OK\nNote: RebuildBaseline: tether has no integrity monitoring engine; recorded as an event')
    await same(['dsa_control', ['--buildBaseline', '--json']], ['agent', 'heartbeat', '--no-contact', '--json', '--', 'RebuildBaseline:true'], env)
  })

  it('failures: self-protected without the password, a wrong one, an agent that is not activated, a bad word', async () => {
    const env = {TETHER_DSA_CORE: guarded}
    const refused = await same(['dsa_control', ['-m']], ['agent', 'heartbeat'], env)
    expect(refused.exitCode).toBe(4)
    expect(refused.stdout).toBe('HTTP Status: 403 - Forbidden')
    await same(['dsa_control', ['-m', '-p', 'nope', '--json']], ['agent', 'heartbeat', '--password', 'nope', '--json'], env)
    const right = await same(['dsa_control', ['-m', '-p', 'guard-pw-1']], ['agent', 'heartbeat', '--password', 'guard-pw-1'], env)
    expect(right.exitCode).toBe(0)

    // No daemon and not activated: the request runs in this process (the agent runtime, loaded then) and is refused.
    const fresh = newDsaCore()
    const notActivated = await same(['dsa_control', ['-m']], ['agent', 'heartbeat'], {TETHER_DSA_CORE: fresh})
    expect(notActivated.exitCode).toBe(4)
    expect(notActivated.stderr).toMatch(/not activated/)
    const bad = await same(['tether', ['agent', 'heartbeat', '--dsa-core', fresh, '--', ':x']], ['agent', 'heartbeat', '--dsa-core', fresh, '--', ':x'], {})
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toMatch(/":x" is not a keyword:value word/)
    // -t with a value oclif refuses goes to oclif.
    await same(['dsa_control', ['-m', '-t', 'abc']], ['agent', 'heartbeat', '--service-retries', 'abc'], {TETHER_DSA_CORE: fresh}, {directPath: false})
  })
})

describe('dsa_query, sendCommand and tether agent query, direct and through oclif', () => {
  it('an activated agent: GetAgentStatus, a pattern, --raw, --json; GetHostInfo; GetConfiguration', async () => {
    const env = {TETHER_DSA_CORE: running}
    const status = await same(['dsa_query', ['-c', 'GetAgentStatus']], ['agent', 'query', '--', 'GetAgentStatus'], env)
    expect(status.stdout).toMatch(/^AgentStatus\.agentState: (green|yellow)\nAgentStatus\.activation: activated\nAgentStatus\.dsmUrl: https:\/\/127\.0\.0\.1:\d+\//)
    const hash = await same(['dsa_query', ['-c', 'GetAgentStatus', 'agentCertHash']], ['agent', 'query', '--', 'GetAgentStatus', 'agentCertHash'], env)
    expect(hash.stdout).toMatch(/^AgentStatus\.agentCertHash: ([0-9A-F]{2}:){19}[0-9A-F]{2}$/)
    await same(['dsa_query', ['-r', 'GetAgentStatus', 'dsm*']], ['agent', 'query', '--raw', '--', 'GetAgentStatus', 'dsm*'], env)
    const asJson = await same(['dsa_query', ['-c', 'GetAgentStatus', '--json']], ['agent', 'query', '--json', '--', 'GetAgentStatus'], env)
    expect(json(asJson)).toMatchObject({command: 'GetAgentStatus', fields: {'AgentStatus.activation': 'activated'}})
    await same(['dsa_query', ['-c', 'gethostinfo']], ['agent', 'query', '--', 'gethostinfo'], env)
    const xml = await same(['sendCommand', ['--get', 'GetConfiguration']], ['agent', 'query', '--xml', '--', 'GetConfiguration'], env)
    expect(xml.stdout).toMatch(/^HTTP Status: 200 - OK\nResponse:\n\n<\?xml version="1.0" encoding="UTF-8"\?>\n<AgentConfiguration hostID="\d*" hostGUID="[0-9A-F-]{36}"/)
    await same(['tether', ['agent', 'query', 'GetPluginVersion', '--dsa-core', running]], ['agent', 'query', 'GetPluginVersion', '--dsa-core', running], {})
  })

  it('failures: no agent (text and --json), an unknown command, GetConfiguration without --xml', async () => {
    const missing = {TETHER_DSA_CORE: path.join(tempDir(), 'ds_agent', 'dsa_core')}
    const none = await same(['dsa_query', ['-c', 'GetAgentStatus']], ['agent', 'query', '--', 'GetAgentStatus'], missing)
    expect(none.exitCode).toBe(3)
    expect(json(await same(['dsa_query', ['-c', 'GetAgentStatus', '--json']], ['agent', 'query', '--json', '--', 'GetAgentStatus'], missing)).error).toMatchObject({code: 'dsa-core-missing'})
    const unknown = await same(['dsa_query', ['-c', 'GetNothing']], ['agent', 'query', '--', 'GetNothing'], {TETHER_DSA_CORE: running})
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr).toMatch(/unknown query command "GetNothing"/)
    await same(['tether', ['agent', 'query', 'GetConfiguration', '--dsa-core', running]], ['agent', 'query', 'GetConfiguration', '--dsa-core', running], {})
    // No COMMAND: oclif's missing-argument error.
    await same(['tether', ['agent', 'query', '--dsa-core', running]], ['agent', 'query', '--dsa-core', running], {}, {directPath: false})
  })
})

describe('tether agent status, direct and through oclif', () => {
  it('unactivated, bound, activated; text and --json', async () => {
    const fresh = newDsaCore()
    const bound = await boundDsaCore(managerEnv)
    for (const dsaCore of [fresh, bound, running, guarded]) {
      const text = await same(['tether', ['agent', 'status', '--dsa-core', dsaCore]], ['agent', 'status', '--dsa-core', dsaCore], {})
      expect(text.stdout).toMatch(/^State: +(unactivated|pre-activated \(bound to [0-9A-F:]+\)|activated)\n/)
      await same(['tether', ['agent', 'status', '--json']], ['agent', 'status', '--json'], {TETHER_DSA_CORE: dsaCore})
    }

    expect((await same(['tether', ['agent', 'status']], ['agent', 'status'], {TETHER_DSA_CORE: guarded})).stdout).toMatch(/Self-protection: +on/)
  })

  it('--json with a user\'s oclif theme (which colours it) is left to oclif', async () => {
    const config = tempDir()
    fs.mkdirSync(path.join(config, 'tether'))
    fs.writeFileSync(path.join(config, 'tether', 'theme.json'), JSON.stringify({json: {key: 'red'}}))
    const env = {TETHER_DSA_CORE: running, XDG_CONFIG_HOME: config}
    await same(['tether', ['agent', 'status', '--json']], ['agent', 'status', '--json'], env, {directPath: false})
    await same(['tether', ['agent', 'status']], ['agent', 'status'], env)
  })

  it('TETHER_CONTENT_TYPE=json is oclif\'s to honour', async () => {
    const result = await same(['tether', ['agent', 'status']], ['agent', 'status'], {TETHER_DSA_CORE: running, TETHER_CONTENT_TYPE: 'json'}, {directPath: false})
    expect(json(result).state).toBe('activated')
  })
})

it('the status reasons tether keeps are node:http\'s', () => {
  for (const [status, text] of Object.entries(LOCAL_STATUS_TEXT)) expect(text).toBe(http.STATUS_CODES[Number(status)])
})

describe('colour by chalk, loaded only when output may be coloured', () => {
  // A process of its own each: whether chalk loads is decided from the environment at start-up.
  async function painted(env: Record<string, string | undefined>): Promise<string[]> {
    const script = "const {paint} = await import(process.argv[1]); process.stdout.write(JSON.stringify([paint.stderr.red('Error:'), paint.stdout.dim('a\\nb'), paint.stdout.green('')]))"
    const result = await execa(process.execPath, ['--input-type=module', '-e', script, new URL('../dist/cli/render.js', import.meta.url).href], {env: {...env}, extendEnv: false})
    return JSON.parse(result.stdout) as string[]
  }

  it('FORCE_COLOR colours (chalk\'s codes, per line); FORCE_COLOR=0, NO_COLOR or no terminal do not', async () => {
    expect(await painted({FORCE_COLOR: '1'})).toEqual(['\u001B[31mError:\u001B[39m', '\u001B[2ma\u001B[22m\n\u001B[2mb\u001B[22m', ''])
    for (const env of [{FORCE_COLOR: '0'}, {NO_COLOR: '1'}, {}]) expect(await painted(env), JSON.stringify(env)).toEqual(['Error:', 'a\nb', ''])
  })
})
