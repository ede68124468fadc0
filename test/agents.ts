import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import type {Readable} from 'node:stream'

import {ResultPromise, execa} from 'execa'
import {afterAll, expect} from 'vitest'

import {BIN, initManager, run, tempDir, tether} from './helpers.js'

/** A real `tether agent start` process on an ephemeral loopback port. */
export interface AgentProcess {
  dsaCore: string
  port: number
  address: string
  child: ResultPromise
  /** Its log (stderr), line by line as it comes. */
  log: LogWatch
  stop(): Promise<void>
}

/** A daemon's stderr, kept line by line, so a test waits on the events it logs instead of on time. */
export class LogWatch {
  readonly lines: string[] = []
  private readonly waiters = new Set<() => void>()

  constructor(stream: Readable) {
    readline.createInterface({input: stream}).on('line', (line) => {
      this.lines.push(line)
      for (const wake of this.waiters) wake()
    })
  }

  /** The JSON log lines (--log-format json) so far; other lines are skipped. */
  events(): Array<Record<string, any>> {
    return this.lines.flatMap((line) => {
      try {
        const parsed = JSON.parse(line)
        return parsed && typeof parsed === 'object' ? [parsed] : []
      } catch {
        return []
      }
    })
  }

  /** The first line matching, waiting for it (a line already logged counts). */
  async line(match: (line: string) => boolean, what: string, ms = 30_000): Promise<string> {
    return this.until(() => this.lines.find(match), what, ms)
  }

  /** The first JSON event matching, waiting for it. */
  async event(match: (event: Record<string, any>) => boolean, what: string, ms = 30_000): Promise<Record<string, any>> {
    return this.until(() => this.events().find(match), what, ms)
  }

  private until<T>(probe: () => T | undefined, what: string, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = probe()
        if (found === undefined) return
        this.waiters.delete(check)
        clearTimeout(timer)
        resolve(found)
      }

      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`timed out waiting for ${what}; the log so far:\n${this.lines.join('\n')}`))
      }, ms)
      this.waiters.add(check)
      check()
    })
  }
}

export function newDsaCore(): string {
  const parent = path.join(tempDir('tether-agent-'), 'ds_agent')
  fs.mkdirSync(parent)
  return path.join(parent, 'dsa_core')
}

/** Start a long-running tether command that prints one JSON "listening" line when ready. */
async function startListening(args: string[], env: Record<string, string> = {}, port = 0): Promise<{port: number; ready: Record<string, any>; child: ResultPromise; log: LogWatch; stop(): Promise<void>}> {
  const child = execa(process.execPath, [BIN.tether, ...args, '--port', String(port), '--json'], {
    env: {NO_COLOR: '1', ...env},
    reject: false,
    buffer: {stdout: false, stderr: true},
  })
  const log = new LogWatch(child.stderr!)
  const lines = readline.createInterface({input: child.stdout!})
  const ready = await new Promise<{port: number} & Record<string, any>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start in 20 s`)), 20_000)
    lines.once('line', (line) => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(line))
      } catch {
        reject(new Error(`${args.join(' ')} printed ${line}`))
      }
    })
    void child.then((result) => reject(new Error(`${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`)))
  })
  return {
    port: ready.port,
    ready,
    child,
    log,
    async stop() {
      if (child.exitCode === null && !child.killed) child.kill('SIGTERM')
      await child
    },
  }
}

export async function startAgent(dsaCore: string, options: {env?: Record<string, string>; hostname?: string; args?: string[]; port?: number} = {}): Promise<AgentProcess> {
  // A restarted agent may take its old port back: the manager has that address.
  const started = await startListening(['agent', 'start', '--dsa-core', dsaCore, '--hostname', options.hostname ?? 'agent.test', ...(options.args ?? [])], options.env, options.port)
  return {dsaCore, address: `127.0.0.1:${started.port}`, ...started}
}

export interface ManagerProcess {
  home: string
  port: number
  /** The "listening" line it printed. */
  ready: Record<string, any>
  url: string
  child: ResultPromise
  log: LogWatch
  stop(): Promise<void>
}

/** A real `tether manager start` (heartbeat listener) on an ephemeral loopback port. */
export async function startManager(home: string, options: {env?: Record<string, string>; port?: number; args?: string[]} = {}): Promise<ManagerProcess> {
  // A restarted manager may take its old port back: its agents remember that address.
  const started = await startListening(['manager', 'start', '--home', home, '--poll-ms', '200', ...(options.args ?? [])], options.env, options.port)
  return {home, url: `dsm://127.0.0.1:${started.port}/`, ...started}
}

/** Wait for a process (killed by a failpoint) to be gone. */
export async function exited(agent: AgentProcess): Promise<{signal?: string; exitCode?: number}> {
  const result = await agent.child
  return {signal: result.signal, exitCode: result.exitCode}
}

// --- processes stopped when the test file ends ---

const stopAtEnd: Array<() => Promise<void>> = []
afterAll(async () => {
  await Promise.all(stopAtEnd.splice(0).map((stop) => stop()))
})

/** An agent process, stopped when the test file ends. */
export async function agent(dsaCore = newDsaCore(), options: Parameters<typeof startAgent>[1] = {}): Promise<AgentProcess> {
  const started = await startAgent(dsaCore, options)
  stopAtEnd.push(() => started.stop())
  return started
}

/** A manager heartbeat listener on an existing home, stopped when the test file ends. */
export async function listener(home: string, options: Parameters<typeof startManager>[1] = {}): Promise<ManagerProcess> {
  const started = await startManager(home, options)
  stopAtEnd.push(() => started.stop())
  return started
}

/** A new manager home with its heartbeat listener running. */
export async function managerWithListener(): Promise<{home: string; env: Record<string, string>; process: ManagerProcess}> {
  const {home, env} = await initManager(tempDir())
  return {home, env, process: await listener(home)}
}

/** A dsa_core bound to the manager of `managerEnv`, as an operator binds it (dsm_c export, then bind). */
export async function boundDsaCore(managerEnv: Record<string, string>): Promise<string> {
  const dsaCore = newDsaCore()
  const file = path.join(tempDir(), 'ds_agent_dsm.crt')
  expect((await run('dsm_c', ['-action', 'exportdsmcert', '-output', file], managerEnv)).exitCode).toBe(0)
  expect((await tether(['agent', 'bind', file, '--dsa-core', dsaCore])).exitCode).toBe(0)
  return dsaCore
}
