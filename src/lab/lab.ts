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
import {PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, readIfExists, removeFileDurable, writeFileAtomic} from '../platform/fsutil.js'
import {defaultLabPointer} from '../platform/paths.js'
import {checkPrivateDirectory} from '../platform/private-dir.js'
import {isSameProcess, processStartTime} from '../platform/process-identity.js'

/**
 * `tether lab`: the demo's manager and agents left running in the background for an operator to
 * try commands against. Each is a real `tether ... start` process with its log in the lab
 * directory; lab.json records their pids, start times and ports.
 *
 * The lab directory is private: made by tether (mkdtemp, 0700) unless --dir names one, which must
 * then be the user's own and private too, never a fixed /tmp path another user could pre-create.
 * A recorded process is signalled only while it is still the one started (same pid and start time).
 */

const RUN_JS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'run.js')
const STATE_FILE = 'lab.json'

export interface LabProcess {
  pid: number
  /** When the process started (see processStartTime): with the pid, it names that process. */
  started?: string
  port: number
  log: string
}

export interface LabState {
  dir: string
  manager: LabProcess & {home: string; url: string}
  agents: Array<LabProcess & {dsaCore: string; hostname: string; address: string}>
  env: Record<string, string>
}

/** The lab a command without --dir means: the last one `lab up` made (recorded per user). */
export function lastLabDir(pointer = defaultLabPointer()): string | undefined {
  return readIfExists(pointer)?.toString('utf8').trim() || undefined
}

function rememberLab(dir: string, pointer = defaultLabPointer()): void {
  fs.mkdirSync(path.dirname(pointer), {recursive: true, mode: PRIVATE_DIR_MODE})
  writeFileAtomic(pointer, dir, PRIVATE_FILE_MODE)
}

function forgetLab(dir: string, pointer = defaultLabPointer()): void {
  if (lastLabDir(pointer) === dir) removeFileDurable(pointer)
}

/** Whether a recorded process is still running and still the one the lab started. */
export function labProcessAlive(p: Pick<LabProcess, 'pid' | 'started'>): boolean {
  return isSameProcess(p.pid, p.started)
}

export function readLab(dir: string): LabState | undefined {
  const file = path.join(dir, STATE_FILE)
  if (!fs.existsSync(file)) return undefined
  // Pids are read from it and signalled: only from a directory no other user can write.
  checkPrivateDirectory(dir, 'the lab directory')
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LabState
  } catch {
    throw new TetherError('internal', 'lab-state-damaged', `${file} is damaged`, {hint: `stop leftover processes by hand, then remove ${dir}`})
  }
}

/** Start one long-running tether command detached, logging to `log`; resolve with its ready line. */
async function startDetached(args: string[], log: string): Promise<{pid: number; started?: string; port: number}> {
  const fd = fs.openSync(log, 'a')
  const child = spawn(process.execPath, [RUN_JS, ...args, '--port', '0', '--json'], {detached: true, stdio: ['ignore', fd, fd], env: {...process.env, NO_COLOR: '1'}})
  fs.closeSync(fd)
  child.unref()
  // Read now, while the child cannot have been reaped: it is ours.
  const started = processStartTime(child.pid!)
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const line = fs.readFileSync(log, 'utf8').split('\n').find((l) => l.startsWith('{"event":"listening"'))
    if (line) return {pid: child.pid!, started, port: (JSON.parse(line) as {port: number}).port}
    if (child.exitCode !== null || !isSameProcess(child.pid!, started)) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  throw new TetherError('internal', 'lab-start-failed', `${args.slice(0, 2).join(' ')} did not start; see ${log}`)
}

function refuseIfRunning(dir: string): void {
  const state = fs.existsSync(dir) ? readLab(dir) : undefined
  if (state && [state.manager, ...state.agents].some((p) => labProcessAlive(p))) {
    throw new TetherError('refused', 'lab-running', `a lab is already running in ${dir}`, {hint: 'use it (tether lab status), or stop it first: tether lab down'})
  }
}

/** The directory a new lab runs in: --dir (made private if new, checked if not), else a fresh mkdtemp. */
function labDirectory(requested: string | undefined): string {
  if (requested === undefined) {
    // One lab at a time without --dir, as when it had a fixed directory.
    const last = lastLabDir()
    if (last) refuseIfRunning(last)
    return fs.mkdtempSync(path.join(os.tmpdir(), 'tether-lab-'))
  }

  const dir = path.resolve(requested)
  if (fs.existsSync(dir)) checkPrivateDirectory(dir, 'the lab directory')
  else fs.mkdirSync(dir, {recursive: true, mode: PRIVATE_DIR_MODE})
  refuseIfRunning(dir)
  return dir
}

export async function labUp(requested: string | undefined, agents: number): Promise<LabState> {
  const dir = labDirectory(requested)

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
    rememberLab(dir)
    return state
  } catch (error) {
    for (const p of started) signal(p, 'SIGTERM')
    throw error
  }
}

/** Signal a lab process, only while it is still the one the lab started. */
function signal(p: Pick<LabProcess, 'pid' | 'started'>, name: NodeJS.Signals): void {
  if (!labProcessAlive(p)) return
  try {
    process.kill(p.pid, name)
  } catch {
    // Gone meanwhile.
  }
}

/** The lab --dir names, else the last one started; none is an error that says what to do. */
function resolveLab(requested: string | undefined): string {
  const dir = requested === undefined ? lastLabDir() : path.resolve(requested)
  if (!dir) throw new TetherError('notFound', 'no-lab', 'no lab was started by this user', {hint: 'start one with tether lab up (or name one with --dir)'})
  return dir
}

export async function labDown(requested: string | undefined, options: {purge?: boolean} = {}): Promise<{dir: string; stopped: number[]; purged: boolean}> {
  const dir = resolveLab(requested)
  const state = readLab(dir)
  if (!state) {
    // A lab already stopped can still be purged; only a directory that looks like a lab, though.
    if (options.purge && fs.existsSync(path.join(dir, 'manager'))) {
      checkPrivateDirectory(dir, 'the lab directory')
      fs.rmSync(dir, {recursive: true, force: true})
      forgetLab(dir)
      return {dir, stopped: [], purged: true}
    }

    throw new TetherError('notFound', 'no-lab', `no lab in ${dir}`, {hint: 'start one with tether lab up'})
  }

  const running = [...state.agents, state.manager].filter((p) => labProcessAlive(p))
  for (const p of running) signal(p, 'SIGTERM')
  const deadline = Date.now() + 10_000
  while (running.some((p) => labProcessAlive(p)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  for (const p of running) signal(p, 'SIGKILL')
  fs.rmSync(path.join(dir, STATE_FILE), {force: true})
  if (options.purge) {
    fs.rmSync(dir, {recursive: true, force: true})
    forgetLab(dir)
  }

  return {dir, stopped: running.map((p) => p.pid), purged: Boolean(options.purge)}
}

export async function labStatus(requested: string | undefined) {
  const dir = requested === undefined ? lastLabDir() : path.resolve(requested)
  const state = dir && fs.existsSync(dir) ? readLab(dir) : undefined
  if (!state) return {dir: dir ?? null, running: false, manager: null, agents: [], computers: []}
  const store = await new ManagerHome(state.manager.home).openStore()
  try {
    const defaults = await getSettings(store)
    return {
      dir,
      running: labProcessAlive(state.manager),
      manager: {...state.manager, alive: labProcessAlive(state.manager)},
      agents: state.agents.map((a) => ({...a, alive: labProcessAlive(a)})),
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
