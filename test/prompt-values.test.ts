import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AgentProcess, newDsaCore, startAgent} from './agents.js'
import {initManager, json, tempDir, tether} from './helpers.js'
import {onPipes, onPty, plain} from './pty.js'

describe('a missing required value: asked for on a terminal, an error for a script', () => {
  let home: string
  let agent: AgentProcess
  let certFile: string
  beforeAll(async () => {
    ;({home} = await initManager(tempDir()))
    agent = await startAgent(newDsaCore())
    certFile = path.join(tempDir(), 'ds_agent_dsm.crt')
    expect((await tether(['manager', 'export-cert', '--home', home, '--output', certFile])).exitCode).toBe(0)
  })

  afterAll(async () => {
    await agent.stop()
  })

  it('manager activate asks which agent, then activates it', async () => {
    const result = await onPty(['manager', 'activate', '--home', home], {expect: 'Agent to activate', answer: agent.address})
    expect(result.prompted).toBe(true)
    expect(result.exitCode, plain(result.terminal)).toBe(0)
    expect(plain(result.terminal)).toContain('Activated computer')
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', agent.dsaCore])).state).toBe('activated')
  })

  it('agent bind asks for the file on a terminal', async () => {
    const dsaCore = newDsaCore()
    const result = await onPty(['agent', 'bind', '--dsa-core', dsaCore], {expect: 'Path of ds_agent_dsm.crt', answer: certFile})
    expect(result.exitCode, plain(result.terminal)).toBe(0)
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent_dsm.crt'))).toBe(true)
  })

  it('without a terminal each is a usage error naming what to pass, never a wait', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['manager', 'activate', '--home', home], /the agent to activate \(HOST\[:PORT\]\) is required/],
      [['agent', 'bind', '--dsa-core', newDsaCore()], /the binding file \(ds_agent_dsm.crt\) is required/],
      [['agent', 'activate', '--dsa-core', newDsaCore()], /the manager URL \(dsm:\/\/HOST:PORT\/\) is required/],
      [['manager', 'deactivate', '--home', home, '--yes'], /the computer to deactivate is required/],
    ]
    for (const [args, message] of cases) {
      const result = await onPipes(args)
      expect(result.exitCode, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(message)
    }
  })
})
