import path from 'node:path'

import {execa} from 'execa'
import {expect} from 'vitest'

import {BIN, ROOT} from './helpers.js'

/** Running the built CLI as a person at a terminal does (a real pty), and as a script does (pipes). */

const DRIVER = path.join(ROOT, 'test', 'fixtures', 'pty-run.py')
/** Longest any one run may take before it counts as a hang (and is killed). */
const HANG_MS = 25_000

export interface PtyResult {
  exitCode: number | null
  signal: string | null
  /** Everything the command wrote to the terminal (stderr, and stdout unless piped). */
  terminal: string
  /** stdout when it was a pipe. */
  stdout: string
  prompted: boolean
  timedOut: boolean
}

export type Env = Record<string, string | undefined>

/** The environment of a person's terminal session: no colour preference, no tether variables. */
export const baseEnv = (env: Env): Env => ({TERM: 'xterm', NO_COLOR: undefined, FORCE_COLOR: undefined, TETHER_MANAGER_HOME: undefined, TETHER_DSA_CORE: undefined, ...env})

export async function onPty(
  args: string[],
  options: {expect?: string; answer?: string; answers?: Array<{expect: string; answer: string}>; env?: Env; stdin?: 'tty' | 'null'; stdout?: 'tty' | 'pipe'} = {},
): Promise<PtyResult> {
  const driverArgs = ['--timeout', String(HANG_MS / 1000), '--stdin', options.stdin ?? 'tty', '--stdout', options.stdout ?? 'tty']
  if (options.expect) driverArgs.push('--expect', options.expect, '--answer', options.answer ?? '')
  // Several prompts, answered in order (each looked for after the previous answer).
  for (const {expect: text, answer} of options.answers ?? []) driverArgs.push('--expect', text, '--answer', answer)
  const result = await execa('python3', [DRIVER, ...driverArgs, '--', process.execPath, BIN.tether, ...args], {
    env: baseEnv(options.env ?? {}),
    extendEnv: true,
    reject: false,
    cwd: ROOT,
  })
  if (result.exitCode !== 0) throw new Error(`pty driver failed (exit ${result.exitCode}): ${result.stderr}`)
  const parsed = JSON.parse(String(result.stdout)) as PtyResult
  expect(parsed.timedOut, `hung on the terminal:\n${parsed.terminal}`).toBe(false)
  return parsed
}

/** A script's run: pipes for stdin (empty), stdout and stderr, killed if it outlives HANG_MS. */
export async function onPipes(args: string[], env: Env = {}) {
  const result = await execa(process.execPath, [BIN.tether, ...args], {env: baseEnv(env), extendEnv: true, reject: false, input: '', timeout: HANG_MS, cwd: ROOT})
  expect(result.timedOut, 'waited for an answer nobody can give').toBe(false)
  return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

export const plain = (text: string) => text.replaceAll(/\u001B\[[\d;?]*[A-Za-z]/gu, '')
