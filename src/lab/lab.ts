import {spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {TetherError} from '../errors.js'
import {viewComputer} from '../manager/computers.js'
import {activate} from '../manager/manager-initiated.js'
import {ManagerHome, initManagerHome} from '../manager/home.js'
import {getSettings} from '../manager/settings.js'
import {PUBLIC_FILE_MODE, processAlive, writeFileAtomic} from '../platform/fsutil.js'

/**
 * `tether lab`: the demo's manager and agents left running in the background for an operator to
 * try commands against. Each is a real `tether ... start` process with its log in the lab
 * directory; lab.json records their pids and ports.
 */

const RUN_JS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'run.js')
const STATE_FILE = 'lab.json'

export interface LabProcess {
  pid: number
  port: number
  log: string
}

export interface LabState {
  dir: string
  manager: LabProcess & {home: string; url: string}
  agents: Array<LabProcess & {dsaCore: string; hostname: string; address: string}>
  env: Record<string, string>
}

export function defaultLabDir(): string {
  return path.join(os.tmpdir(), 'tether-lab')
}

export function readLab(dir: string): LabState | undefined {
  const file = path.join(dir, STATE_FILE)
  if (!fs.existsSync(file)) return undefined
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LabState
  } catch {
    throw new TetherError('internal', 'lab-state-damaged', `${file} is damaged`, {hint: `stop leftover processes by hand, then remove ${dir}`})
  }
}

/** Start one long-running tether command detached, logging to `log`; resolve with its ready line. */
async function startDetached(args: string[], log: string): Promise<{pid: number; port: number}> {
  const fd = fs.openSync(log, 'a')
  const child = spawn(process.execPath, [RUN_JS, ...args, '--port', '0', '--json'], {detached: true, stdio: ['ignore', fd, fd], env: {...process.env, NO_COLOR: '1'}})
  fs.closeSync(fd)
  child.unref()
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const line = fs.readFileSync(log, 'utf8').split('\n').find((l) => l.startsWith('{"event":"listening"'))
    if (line) return {pid: child.pid!, port: (JSON.parse(line) as {port: number}).port}
    if (child.exitCode !== null || !processAlive(child.pid!)) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  throw new TetherError('internal', 'lab-start-failed', `${args.slice(0, 2).join(' ')} did not start; see ${log}`)
}

export async function labUp(dir: string, agents: number): Promise<LabState> {
  const existing = readLab(dir)
  if (existing && [existing.manager, ...existing.agents].some((p) => processAlive(p.pid))) {
    throw new TetherError('refused', 'lab-running', `a lab is already running in ${dir}`, {hint: 'use it (tether lab status), or stop it first: tether lab down'})
  }

  fs.mkdirSync(dir, {recursive: true})
  const home = path.join(dir, 'manager')
  if (!new ManagerHome(home).looksInitialized()) await initManagerHome(home, {hostnames: ['localhost', '127.0.0.1']})
  const started: LabProcess[] = []
  try {
    const managerLog = path.join(dir, 'manager.log')
    const manager = await startDetached(['manager', 'start', '--home', home], managerLog)
    started.push({...manager, log: managerLog})
    const agentStates: LabState['agents'] = []
    for (let i = 1; i <= agents; i++) {
      const dsaCore = path.join(dir, `agent-${i}`, 'dsa_core')
      fs.mkdirSync(path.dirname(dsaCore), {recursive: true})
      const hostname = `lab-agent-${i}.test`
      const log = path.join(dir, `agent-${i}.log`)
      const agent = await startDetached(['agent', 'start', '--dsa-core', dsaCore, '--hostname', hostname], log)
      started.push({...agent, log})
      agentStates.push({...agent, log, dsaCore, hostname, address: `127.0.0.1:${agent.port}`})
    }

    const context = await new ManagerHome(home).open()
    try {
      for (const agent of agentStates) await activate(context, agent.address, {displayName: agent.hostname})
    } finally {
      await context.close()
    }

    const state: LabState = {
      dir,
      manager: {...manager, log: managerLog, home, url: `dsm://127.0.0.1:${manager.port}/`},
      agents: agentStates,
      env: {TETHER_MANAGER_HOME: home, TETHER_DSA_CORE: agentStates[0]?.dsaCore ?? ''},
    }
    writeFileAtomic(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2), PUBLIC_FILE_MODE)
    return state
  } catch (error) {
    for (const p of started) stopProcess(p.pid)
    throw error
  }
}

function stopProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    // Already gone.
  }
}

export async function labDown(dir: string, options: {purge?: boolean} = {}): Promise<{stopped: number[]; purged: boolean}> {
  const state = readLab(dir)
  if (!state) {
    // A lab already stopped can still be purged; only a directory that looks like a lab, though.
    if (options.purge && fs.existsSync(path.join(dir, 'manager'))) {
      fs.rmSync(dir, {recursive: true, force: true})
      return {stopped: [], purged: true}
    }

    throw new TetherError('notFound', 'no-lab', `no lab in ${dir}`, {hint: 'start one with tether lab up'})
  }

  const pids = [...state.agents.map((a) => a.pid), state.manager.pid].filter((pid) => processAlive(pid))
  for (const pid of pids) stopProcess(pid)
  const deadline = Date.now() + 10_000
  while (pids.some((pid) => processAlive(pid)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  for (const pid of pids.filter((p) => processAlive(p))) process.kill(pid, 'SIGKILL')
  fs.rmSync(path.join(dir, STATE_FILE), {force: true})
  if (options.purge) fs.rmSync(dir, {recursive: true, force: true})
  return {stopped: pids, purged: Boolean(options.purge)}
}

export async function labStatus(dir: string) {
  const state = readLab(dir)
  if (!state) return {dir, running: false, manager: null, agents: [], computers: []}
  const store = await new ManagerHome(state.manager.home).openStore()
  try {
    const defaults = await getSettings(store)
    return {
      dir,
      running: processAlive(state.manager.pid),
      manager: {...state.manager, alive: processAlive(state.manager.pid)},
      agents: state.agents.map((a) => ({...a, alive: processAlive(a.pid)})),
      computers: (await store.computers.list()).map((c) => {
        const v = viewComputer(c, defaults)
        return {id: v.id, hostname: v.hostname, state: v.state, presence: v.presence, address: v.address}
      }),
      env: state.env,
    }
  } finally {
    await store.close()
  }
}
