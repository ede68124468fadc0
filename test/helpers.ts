import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll} from 'vitest'

import {isLockFile} from '../src/platform/lock.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const BIN = {
  tether: path.join(ROOT, 'bin', 'run.js'),
  dsm_c: path.join(ROOT, 'bin', 'dsm_c'),
  dsa_control: path.join(ROOT, 'bin', 'dsa_control'),
  dsa_query: path.join(ROOT, 'bin', 'dsa_query'),
  sendCommand: path.join(ROOT, 'bin', 'sendCommand'),
  /** A tether command line through oclif even when it has a direct path (test/fixtures/oclif-route.mjs). */
  oclif: path.join(ROOT, 'test', 'fixtures', 'oclif-route.mjs'),
}

const created: string[] = []
afterAll(() => {
  for (const dir of created) fs.rmSync(dir, {recursive: true, force: true})
})

/** A fresh temporary directory, removed when the test file ends. */
export function tempDir(prefix = 'tether-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  created.push(dir)
  return dir
}

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
  /** The signal that ended it (a failpoint's SIGKILL). */
  signal?: string
}

/** Run one of the built executables as a script would: no terminal, no colour, given env. */
export async function run(tool: keyof typeof BIN, args: string[], env: Record<string, string | undefined> = {}, options: {cwd?: string; input?: string} = {}): Promise<CliResult> {
  const result = await execa(process.execPath, [BIN[tool], ...args], {
    reject: false,
    cwd: options.cwd ?? ROOT,
    env: {NO_COLOR: '1', TETHER_MANAGER_HOME: undefined, TETHER_DSA_CORE: undefined, ...env},
    extendEnv: true,
    input: options.input ?? '',
  })
  return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr), ...(result.signal ? {signal: result.signal} : {})}
}

export const tether = (args: string[], env?: Record<string, string | undefined>, options?: {cwd?: string}) => run('tether', args, env, options)

/** Parse the single JSON document a `--json` run prints. */
export function json<T = Record<string, any>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(`not JSON (exit ${result.exitCode}):\n${result.stdout}\n${result.stderr}`)
  }
}

/**
 * A snapshot of every file under a directory (path -> sha256 and mode), to prove nothing changed.
 * Lock files are left out: they are never opened through fs (src/platform/lock.ts).
 */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (!fs.existsSync(dir)) return out
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, {withFileTypes: true})) {
      if (isLockFile(entry.name)) continue
      const p = path.join(d, entry.name)
      if (entry.isDirectory()) walk(p)
      // Regular files only: a running agent's control socket is not content.
      else if (entry.isFile()) {
        const st = fs.statSync(p)
        out[path.relative(dir, p)] = `${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')} ${(st.mode & 0o777).toString(8)}`
      }
    }
  }

  walk(dir)
  return out
}

/** openssl, run with no shell; tests compare tether against a tool nobody here wrote. */
export async function openssl(args: string[], input?: string | Buffer): Promise<CliResult> {
  const result = await execa('openssl', args, {reject: false, input})
  return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

/** Initialize a manager home once and share it across the tests of one file (keygen is slow). */
export async function initManager(dir: string, extra: string[] = [], options: {agentInitiated?: boolean} = {}): Promise<{home: string; env: Record<string, string>}> {
  const home = path.join(dir, 'manager')
  const result = await tether(['manager', 'init', '--home', home, '--hostname', 'localhost', '--hostname', '127.0.0.1', ...extra])
  if (result.exitCode !== 0) throw new Error(`manager init failed: ${result.stderr}`)
  // Most tests drive agents with `dsa_control -a`, which a new manager refuses until an operator
  // turns it on (the default is off); the tests of that default pass {agentInitiated: false}.
  if (options.agentInitiated ?? true) await allowAgentInitiated(home)
  return {home, env: {TETHER_MANAGER_HOME: home}}
}

/** What `dsm_c -action changesetting -name settings.configuration.agentInitiatedActivation -value 1` does, in-process. */
export async function allowAgentInitiated(home: string): Promise<void> {
  const {ManagerHome} = await import('../src/manager/home.js')
  const {setSetting} = await import('../src/manager/settings.js')
  const store = await new ManagerHome(home).openStore()
  try {
    await setSetting(store, 'agentInitiatedActivation', 'any')
  } finally {
    await store.close()
  }
}

/** Poll until `probe` returns a truthy value (another process writes it), or fail after `ms`. */
export async function eventually<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 5000, what: string | (() => string) = 'condition'): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
