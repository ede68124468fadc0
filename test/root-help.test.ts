import fs from 'node:fs'
import path from 'node:path'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {BIN, ROOT, run, tempDir} from './helpers.js'

/**
 * `tether --help` and `tether` alone without oclif (src/cli/root-help.ts): the same bytes as
 * oclif's root help (test/fixtures/oclif-route.mjs, every command line through oclif), and oclif
 * modules loaded only where it is left to oclif.
 */

let probe: string
const HEAVY = /\n?oclif=(\d+)\n$/

beforeAll(() => {
  probe = path.join(tempDir(), 'oclif-modules.cjs')
  fs.writeFileSync(probe, "process.on('exit', () => process.stderr.write(`oclif=${Object.keys(require.cache).filter((f) => /@oclif[\\\\/]core/.test(f)).length}\\n`))\n")
})

async function help(tool: 'tether' | 'oclif', args: string[], env: Record<string, string | undefined>) {
  const result = await run(tool, args, {...env, NODE_OPTIONS: `--require ${probe}`})
  const oclif = HEAVY.exec(`${result.stderr}\n`)
  expect(oclif, result.stderr).not.toBeNull()
  return {exitCode: result.exitCode, stdout: result.stdout, stderr: `${result.stderr}\n`.replace(HEAVY, ''), oclif: Number(oclif![1])}
}

/** Both ways, the same exit code and bytes; returns how many oclif modules the direct run loaded. */
async function same(args: string[], env: Record<string, string | undefined> = {}): Promise<number> {
  const direct = await help('tether', args, env)
  const viaOclif = await help('oclif', args, env)
  const what = `tether ${args.join(' ')} ${JSON.stringify(env)}`
  expect({...direct, oclif: undefined}, what).toEqual({...viaOclif, oclif: undefined})
  expect(viaOclif.oclif, what).toBeGreaterThan(0)
  expect(direct.stdout, what).toMatch(/^Operator toolkit .*\n\n(\u001B\[1m)?VERSION(\u001B\[22m)?\n/)
  return direct.oclif
}

describe('the root help without oclif', () => {
  it('--help and no arguments, piped, with and without NO_COLOR: oclif\'s bytes, no oclif', async () => {
    for (const args of [['--help'], []]) {
      for (const env of [{}, {NO_COLOR: undefined}, {OCLIF_COLUMNS: '100'}, {OCLIF_COLUMNS: '200'}]) expect(await same(args, env), JSON.stringify([args, env])).toBe(0)
    }
  })

  it('at any width oclif\'s bytes (a layout it cannot be sure of is left to oclif)', async () => {
    let direct = 0
    for (const columns of [1, 12, 25, 33, 40, 41, 47, 52, 58, 63, 66, 71, 75, 79, 81, 88, 95, 110, 150, 240]) {
      if ((await same(['--help'], {OCLIF_COLUMNS: String(columns)})) === 0) direct++
    }

    expect(direct).toBeGreaterThan(10)
  })

  it('colour, a user theme, user plugins, debugging output: left to oclif', async () => {
    const config = tempDir()
    fs.mkdirSync(path.join(config, 'tether'))
    fs.writeFileSync(path.join(config, 'tether', 'theme.json'), JSON.stringify({sectionHeader: 'red'}))
    const data = tempDir()
    fs.mkdirSync(path.join(data, 'tether'))
    fs.writeFileSync(path.join(data, 'tether', 'package.json'), JSON.stringify({private: true, oclif: {plugins: []}}))
    for (const env of [{FORCE_COLOR: '1', NO_COLOR: undefined}, {XDG_CONFIG_HOME: config}, {XDG_DATA_HOME: data}, {TETHER_DEBUG: '1'}]) {
      expect(await same(['--help'], env), JSON.stringify(env)).toBeGreaterThan(0)
    }
  })

  it('on a terminal: with NO_COLOR oclif\'s bytes, without it (colours) oclif renders', async () => {
    const onTerminal = async (bin: string, env: Record<string, string | undefined>) => {
      // A clean environment: CI runners set CI (and the like), which turns colour off even on a terminal.
      const base = {PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, TERM: 'xterm'}
      const clean = Object.fromEntries(Object.entries({...base, ...env}).filter(([, value]) => value !== undefined))
      const result = await execa('python3', [path.join(ROOT, 'test', 'fixtures', 'pty-run.py'), '--stdin', 'null', '--', process.execPath, bin, '--help'], {env: clean, extendEnv: false})
      return (JSON.parse(result.stdout) as {terminal: string}).terminal
    }

    for (const env of [{NO_COLOR: '1'}, {NO_COLOR: undefined}]) expect(await onTerminal(BIN.tether, env), JSON.stringify(env)).toBe(await onTerminal(BIN.oclif, env))
    expect(await onTerminal(BIN.tether, {NO_COLOR: undefined})).toContain('\u001B[1mVERSION\u001B[22m')
  })
})
