import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'

import {ResultPromise, execa} from 'execa'

import {BIN, tempDir} from './helpers.js'

/** A real `tether agent start` process on an ephemeral loopback port. */
export interface AgentProcess {
  dsaCore: string
  port: number
  address: string
  child: ResultPromise
  stop(): Promise<void>
}

export function newDsaCore(): string {
  const parent = path.join(tempDir('tether-agent-'), 'ds_agent')
  fs.mkdirSync(parent)
  return path.join(parent, 'dsa_core')
}

export async function startAgent(dsaCore: string, options: {env?: Record<string, string>; hostname?: string; args?: string[]} = {}): Promise<AgentProcess> {
  const child = execa(process.execPath, [BIN.tether, 'agent', 'start', '--port', '0', '--json', '--dsa-core', dsaCore, '--hostname', options.hostname ?? 'agent.test', ...(options.args ?? [])], {
    env: {NO_COLOR: '1', ...options.env},
    reject: false,
    buffer: {stdout: false, stderr: true},
  })
  const lines = readline.createInterface({input: child.stdout!})
  const ready = await new Promise<{port: number}>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('agent did not start in 20 s')), 20_000)
    lines.once('line', (line) => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(line))
      } catch {
        reject(new Error(`agent printed ${line}`))
      }
    })
    void child.then((result) => reject(new Error(`agent exited ${result.exitCode}: ${result.stderr}`)))
  })
  return {
    dsaCore,
    port: ready.port,
    address: `127.0.0.1:${ready.port}`,
    child,
    async stop() {
      if (child.exitCode === null && !child.killed) child.kill('SIGTERM')
      await child
    },
  }
}

/** Wait for a process (killed by a failpoint) to be gone. */
export async function exited(agent: AgentProcess): Promise<{signal?: string; exitCode?: number}> {
  const result = await agent.child
  return {signal: result.signal, exitCode: result.exitCode}
}
