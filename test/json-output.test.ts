import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AgentProcess, ManagerProcess, newDsaCore, startAgent, startManager} from './agents.js'
import {CliResult, ROOT, initManager, json, run, tempDir, tether} from './helpers.js'
import {usePostgres} from './postgres.js'
import {ChunkedOutput, JsonArrayOutput} from '../src/cli/chunked-output.js'

const postgres = usePostgres()

/** The documented top-level keys, read from docs/json-output.md so the doc and the CLI cannot drift. */
function documentedKeys(): Map<string, string[]> {
  const text = fs.readFileSync(path.join(ROOT, 'docs', 'json-output.md'), 'utf8')
  const table = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const match = /^\| `?([^`|]+?)`? \| (.+) \|$/.exec(line)
    if (match && match[1] !== 'Command' && !match[1].startsWith('---')) table.set(match[1], [...match[2].matchAll(/`([^`]+)`/g)].map((m) => m[1]))
  }

  return table
}

describe('JSON output: one document per command, with the documented keys', () => {
  const table = documentedKeys()
  let env: Record<string, string>
  let home: string
  let manager: ManagerProcess
  let agent: AgentProcess
  let spare: AgentProcess
  let computerId: number
  /** A node of an installation on PostgreSQL, for the nodes commands. */
  let nodeHome: string
  const dir = tempDir()
  const labDir = path.join(dir, 'lab')

  beforeAll(async () => {
    ;({home, env} = await initManager(dir))
    manager = await startManager(home)
    agent = await startAgent(newDsaCore(), {hostname: 'json.test'})
    spare = await startAgent(newDsaCore(), {hostname: 'spare.test'})
    computerId = json(await tether(['manager', 'activate', agent.address, '--json'], env)).computer.id
    nodeHome = path.join(tempDir(), 'node')
    const init = await tether(['manager', 'init', '--home', nodeHome, '--database', await postgres().createDatabase(), '--name', 'first'])
    if (init.exitCode !== 0) throw new Error(init.stderr)
  })

  afterAll(async () => {
    await Promise.all([manager.stop(), agent.stop(), spare.stop()])
    await tether(['lab', 'down', '--dir', labDir, '--purge'])
  })

  const policyFile = () => {
    const file = path.join(tempDir(), 'policy.json')
    fs.writeFileSync(file, '{"firewall": {"enabled": true}}')
    return file
  }

  const passphraseFile = () => {
    const file = path.join(tempDir(), 'passphrase')
    fs.writeFileSync(file, 'json output passphrase\n', {mode: 0o600})
    return file
  }

  const hostsFile = () => {
    const file = path.join(tempDir(), 'hosts.txt')
    fs.writeFileSync(file, `${agent.address}\n`)
    return file
  }

  const rotationHome = async () => {
    const dir = path.join(tempDir(), 'rotating')
    expect((await tether(['manager', 'init', '--home', dir, '--json'])).exitCode).toBe(0)
    return dir
  }

  /** The steps before the last, then the last with --json. */
  const rotate = async (dir: string, steps: string[]) => {
    for (const step of steps.slice(0, -1)) expect((await tether(['manager', 'ca', 'rotate', step, '--home', dir])).exitCode).toBe(0)
    return tether(['manager', 'ca', 'rotate', steps.at(-1)!, '--home', dir, '--json'])
  }

  // One way to run each documented command for real; keys are checked on what it prints.
  const runners: Record<string, () => Promise<CliResult>> = {
    'tether manager init': () => tether(['manager', 'init', '--home', path.join(tempDir(), 'm'), '--json']),
    'tether manager show': () => tether(['manager', 'show', '--json'], env),
    'tether manager export-cert': () => tether(['manager', 'export-cert', '--output', path.join(tempDir(), 'ds_agent_dsm.crt'), '--json'], env),
    'tether manager activate': () => tether(['manager', 'activate', agent.address, '--json'], env),
    'tether manager activate --from': () => tether(['manager', 'activate', '--from', hostsFile(), '--json'], env),
    'tether manager computers list': () => tether(['manager', 'computers', 'list', '--json'], env),
    'tether manager computers show': () => tether(['manager', 'computers', 'show', String(computerId), '--json'], env),
    'tether manager computers renew': () => tether(['manager', 'computers', 'renew', String(computerId), '--json'], env),
    'tether manager ca rotate status': () => tether(['manager', 'ca', 'rotate', 'status', '--json'], env),
    // Each of the others on its own new home: a rotation here would change every other runner's manager.
    'tether manager ca rotate prepare': async () => rotate(await rotationHome(), ['prepare']),
    'tether manager ca rotate activate': async () => rotate(await rotationHome(), ['prepare', 'activate']),
    'tether manager ca rotate rollback': async () => rotate(await rotationHome(), ['prepare', 'rollback']),
    'tether manager ca rotate retire': async () => rotate(await rotationHome(), ['prepare', 'activate', 'retire']),
    'tether manager computers set': () => tether(['manager', 'computers', 'set', String(computerId), '--heartbeat-interval', '300', '--json'], env),
    'tether manager settings list': () => tether(['manager', 'settings', 'list', '--json'], env),
    'tether manager settings get': () => tether(['manager', 'settings', 'get', 'missedHeartbeats', '--json'], env),
    'tether manager settings set': () => tether(['manager', 'settings', 'set', 'missedHeartbeats', '3', '--json'], env),
    'tether manager policies create': () => tether(['manager', 'policies', 'create', `p${Date.now()}`, '--file', policyFile(), '--json'], env),
    'tether manager policies list': () => tether(['manager', 'policies', 'list', '--json'], env),
    'tether manager policies show': async () => {
      await tether(['manager', 'policies', 'create', 'shown', '--file', policyFile()], env)
      return tether(['manager', 'policies', 'show', 'shown', '--json'], env)
    },
    'tether manager policies assign': async () => {
      await tether(['manager', 'policies', 'create', 'assigned', '--file', policyFile()], env)
      return tether(['manager', 'policies', 'assign', 'assigned', String(computerId), '--json'], env)
    },
    'tether manager send-policy': () => tether(['manager', 'send-policy', String(computerId), '--json'], env),
    'tether manager events': () => tether(['manager', 'events', '--json'], env),
    'tether manager tokens create': async () => {
      const created = await tether(['manager', 'tokens', 'create', '--uses', '1', '--json'], env)
      // Revoked again at once: a live token would make the other runners' activations need one.
      await tether(['manager', 'tokens', 'revoke', json(created).id], env)
      return created
    },
    'tether manager tokens list': () => tether(['manager', 'tokens', 'list', '--json'], env),
    'tether manager tokens revoke': async () => {
      const {id} = json(await tether(['manager', 'tokens', 'create', '--json'], env))
      return tether(['manager', 'tokens', 'revoke', id, '--json'], env)
    },
    'tether manager deactivate': async () => {
      const spareId = json(await tether(['manager', 'activate', spare.address, '--json'], env)).computer.id
      return tether(['manager', 'deactivate', String(spareId), '--yes', '--json'], env)
    },
    'tether manager crl': () => tether(['manager', 'crl', '--json'], env),
    'tether manager backup': () => tether(['manager', 'backup', '--output', path.join(tempDir(), 'b.tbk'), '--passphrase-file', passphraseFile(), '--json'], env),
    'tether manager restore': async () => {
      const file = path.join(tempDir(), 'b.tbk')
      await tether(['manager', 'backup', '--output', file, '--passphrase-file', passphraseFile()], env)
      return tether(['manager', 'restore', file, '--home', path.join(tempDir(), 'restored'), '--passphrase-file', passphraseFile(), '--json'])
    },
    'tether manager nodes invite': () => tether(['manager', 'nodes', 'invite', '--output', path.join(tempDir(), 'n.invite'), '--home', nodeHome, '--json']),
    'tether manager nodes list': () => tether(['manager', 'nodes', 'list', '--home', nodeHome, '--json']),
    'tether manager join': () => joinNode(`joined-${Date.now()}`),
    'tether manager nodes remove': async () => {
      const name = `removed-${Date.now()}`
      await joinNode(name)
      return tether(['manager', 'nodes', 'remove', name, '--yes', '--home', nodeHome, '--json'])
    },
    'tether manager migrate': async () => {
      const embedded = await initManager(tempDir())
      return tether(['manager', 'migrate', '--to', await postgres().createDatabase(), '--yes', '--json'], embedded.env)
    },
    // The line the running manager printed when it was listening.
    'tether manager start': async () => ({exitCode: 0, stdout: JSON.stringify(manager.ready), stderr: ''}),
    'tether manager install-service': () => tether(['manager', 'install-service', '--dry-run', '--home', home, '--json'], env),
    'tether agent status': () => tether(['agent', 'status', '--dsa-core', agent.dsaCore, '--json']),
    'tether agent bind': async () => {
      const file = path.join(tempDir(), 'ds_agent_dsm.crt')
      await tether(['manager', 'export-cert', '--output', file], env)
      return tether(['agent', 'bind', file, '--dsa-core', newDsaCore(), '--json'])
    },
    'tether agent reset': () => tether(['agent', 'reset', '--dsa-core', newDsaCore(), '--yes', '--json']),
    'tether agent activate': () => tether(['agent', 'activate', manager.url, '--dsa-core', newDsaCore(), '--max-dsm-retries', '0', '--json']),
    'tether agent heartbeat': () => tether(['agent', 'heartbeat', '--dsa-core', agent.dsaCore, '--json']),
    'tether agent proxy': () => tether(['agent', 'proxy', '--relay', 'relay_proxy://127.0.0.1:8080/', '--dsa-core', newDsaCore(), '--json']),
    'tether agent self-protect': () => tether(['agent', 'self-protect', '1', '--dsa-core', agent.dsaCore, '--json']),
    'tether agent diag': () => tether(['agent', 'diag', '--dsa-core', agent.dsaCore, '--json']),
    'tether agent query': () => tether(['agent', 'query', 'GetAgentStatus', '--dsa-core', agent.dsaCore, '--json']),
    'tether agent start': async () => {
      // The ready line, as the process printed it when the test started it.
      const started = await startAgent(newDsaCore())
      await started.stop()
      return {exitCode: 0, stdout: JSON.stringify({event: 'listening', host: '127.0.0.1', port: started.port, state: 'unactivated', dsaCore: started.dsaCore, pid: started.child.pid}), stderr: ''}
    },
    'tether agent install-service': () => tether(['agent', 'install-service', '--dry-run', '--dsa-core', agent.dsaCore, '--json']),
    'tether handshake inspect': () => tether(['handshake', 'inspect', agent.address, '--home', home, '--json']),
    'tether handshake log': () => tether(['handshake', 'log', '--home', home, '--json']),
    'tether demo': () => tether(['demo', '--json']),
    'tether lab up': () => tether(['lab', 'up', '--dir', labDir, '--agents', '1', '--json']),
    'tether lab status': () => tether(['lab', 'status', '--dir', labDir, '--json']),
    'tether lab down': () => tether(['lab', 'down', '--dir', labDir, '--json']),
    'any failure': () => tether(['manager', 'show', '--home', path.join(tempDir(), 'none'), '--json']),
  }

  async function joinNode(name: string): Promise<CliResult> {
    const invite = path.join(tempDir(), 'n.invite')
    await tether(['manager', 'nodes', 'invite', '--output', invite, '--home', nodeHome])
    return tether(['manager', 'join', '--invite', invite, '--home', path.join(tempDir(), name), '--name', name, '--hostname', '127.0.0.1', '--json'], {PGPASSWORD: postgres().password})
  }

  it('documents every tether command, and every documented command has a check', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, unknown>}
    const commands = Object.keys(manifest.commands).map((id) => `tether ${id.replaceAll(':', ' ')}`)
    for (const command of commands) expect([...table.keys()], `${command} is not in docs/json-output.md`).toContain(command)
    expect(Object.keys(runners).sort()).toEqual([...table.keys()].sort())
  })

  for (const [command, keys] of documentedKeys()) {
    it(command, async () => {
      const result = await runners[command]()
      const document = json(result)
      // The failure row names `error` and, in parentheses, the keys inside it.
      const topLevel = command === 'any failure' ? keys.slice(0, 1) : keys
      for (const key of topLevel) expect(Object.keys(document), `${command}: ${result.stdout.slice(0, 400)}`).toContain(key)
      if (command === 'any failure') {
        expect(result.exitCode).toBe(3)
        expect(Object.keys(document.error)).toEqual(expect.arrayContaining(keys.slice(1)))
      } else {
        expect(result.exitCode, `${command}: ${result.stderr}`).toBe(0)
      }
    })
  }

  it('dsm_c and dsa_control print the document of the command they stand for', async () => {
    const exported = json(await run('dsm_c', ['-action', 'exportdsmcert', '-output', path.join(tempDir(), 'ds_agent_dsm.crt'), '--json'], env))
    expect(Object.keys(exported)).toEqual(expect.arrayContaining(table.get('tether manager export-cert')!))
    const reset = json(await run('dsa_control', ['-r', '--json'], {TETHER_DSA_CORE: newDsaCore()}))
    expect(Object.keys(reset)).toEqual(expect.arrayContaining(table.get('tether agent reset')!))
  })
})

describe('a JSON document written as it is produced (computers list)', () => {
  it('is byte for byte what JSON.stringify(document, null, 2) prints, in chunks of any size', () => {
    const many = Array.from({length: 3000}, (_, i) => ({id: i, name: 'z'.repeat(i % 50), nested: {list: [i, null], empty: {}}}))
    for (const elements of [[], [1], [{text: 'a\nb "quoted"', list: [1, {deep: null}], empty: {}, none: []}, 'string', []], [undefined, () => 1, null, new Date(0)], many]) {
      for (const chunkBytes of [1, 1000, 64 * 1024]) {
        const writes: string[] = []
        const output = new ChunkedOutput((bytes) => writes.push(bytes.toString()), chunkBytes)
        const json = new JsonArrayOutput(output, 'computers')
        for (const element of elements) json.element(element)
        json.end()
        expect(writes.join('')).toBe(`${JSON.stringify({computers: elements}, null, 2)}\n`)
        if (elements === many && chunkBytes === 1000) expect(writes.length).toBeGreaterThan(100)
      }
    }
  })
})
