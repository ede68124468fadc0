import fs from 'node:fs'
import path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {initManager, json, snapshot, tempDir, tether} from './helpers.js'
import {onPipes, onPty, plain} from './pty.js'

/**
 * Prompts, colour and the oclif plugins as a person at a terminal meets them: the built CLI runs on
 * a real pseudo-terminal (test/fixtures/pty-run.py, python3's pty module), and as a script meets
 * them: plain pipes, where nothing may ever wait for an answer.
 */

const RED_ERROR = '\u001B[31mError:\u001B[39m'

describe('confirmations on a terminal, and never without one', () => {
  let dir: string
  let home: string
  let certFile: string
  beforeAll(async () => {
    dir = tempDir()
    ;({home} = await initManager(dir))
    certFile = path.join(dir, 'export', 'ds_agent_dsm.crt')
    fs.mkdirSync(path.dirname(certFile))
    expect((await tether(['manager', 'export-cert', '--home', home, '--output', certFile])).exitCode).toBe(0)
  })

  const caFingerprint = async () => json(await tether(['manager', 'show', '--home', home, '--json'])).ca.sha256 as string
  const reinitArgs = () => ['manager', 'init', '--force', '--home', home, '--hostname', 'localhost']

  async function boundAgent(): Promise<string> {
    const dsaCore = path.join(tempDir(), 'ds_agent', 'dsa_core')
    fs.mkdirSync(path.dirname(dsaCore))
    expect((await tether(['agent', 'bind', certFile, '--dsa-core', dsaCore])).exitCode).toBe(0)
    expect(json(await tether(['agent', 'status', '--dsa-core', dsaCore, '--json'])).state).toBe('pre-activated')
    return dsaCore
  }

  it('manager init --force, declined at the prompt: exit 4, "declined", the home untouched', async () => {
    const before = snapshot(home)
    const fingerprint = await caFingerprint()
    const result = await onPty(reinitArgs(), {expect: '(y/N)', answer: 'n'})
    expect(result.prompted).toBe(true)
    expect(plain(result.terminal)).toContain(`? Re-create the manager home ${home}`)
    expect(result.exitCode).toBe(4)
    expect(plain(result.terminal)).toContain(`Re-create the manager home ${home} (a new CA: every agent must be re-activated): declined at the prompt; nothing was changed`)
    expect(snapshot(home)).toEqual(before)
    expect(await caFingerprint()).toBe(fingerprint)
  })

  it('manager init --force, accepted at the prompt: a new CA', async () => {
    const fingerprint = await caFingerprint()
    const result = await onPty(reinitArgs(), {expect: '(y/N)', answer: 'y'})
    expect(result.prompted).toBe(true)
    expect(result.exitCode).toBe(0)
    expect(plain(result.terminal)).toContain(`Initialized manager home ${home}`)
    const renewed = await caFingerprint()
    expect(renewed).toMatch(/^[\dA-F]{2}(?::[\dA-F]{2}){31}$/)
    expect(renewed).not.toBe(fingerprint)
  })

  it('agent reset --unbind on a bound agent, declined: still bound', async () => {
    const dsaCore = await boundAgent()
    const before = snapshot(dsaCore)
    const result = await onPty(['agent', 'reset', '--unbind', '--dsa-core', dsaCore], {expect: '(y/N)', answer: 'n'})
    expect(result.prompted).toBe(true)
    expect(plain(result.terminal)).toContain(`? Reset the agent in ${dsaCore}`)
    expect(result.exitCode).toBe(4)
    expect(plain(result.terminal)).toContain('declined at the prompt; nothing was changed')
    expect(snapshot(dsaCore)).toEqual(before)
    expect(json(await tether(['agent', 'status', '--dsa-core', dsaCore, '--json'])).state).toBe('pre-activated')
  })

  it('agent reset --unbind on a bound agent, accepted: the binding is removed', async () => {
    const dsaCore = await boundAgent()
    const result = await onPty(['agent', 'reset', '--unbind', '--dsa-core', dsaCore], {expect: '(y/N)', answer: 'y'})
    expect(result.prompted).toBe(true)
    expect(result.exitCode).toBe(0)
    expect(plain(result.terminal)).toContain('Agent reset (was pre-activated); removed ds_agent_dsm.crt')
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent_dsm.crt'))).toBe(false)
    expect(json(await tether(['agent', 'status', '--dsa-core', dsaCore, '--json'])).state).toBe('unactivated')
  })

  it('with no terminal (plain pipes) each is an error naming --yes, not a wait, and changes nothing', async () => {
    const dsaCore = await boundAgent()
    const homeBefore = snapshot(home)
    const agentBefore = snapshot(dsaCore)
    for (const args of [reinitArgs(), ['agent', 'reset', '--unbind', '--dsa-core', dsaCore]]) {
      const result = await onPipes(args)
      expect(result.exitCode).toBe(2)
      expect(result.stderr).toMatch(/needs confirmation and there is no terminal to ask on; pass --yes to confirm from a script/)
      const asJson = json(await onPipes([...args, '--json']))
      expect(asJson.error).toMatchObject({code: 'confirmation-required', exitCode: 2})
      expect(asJson.error.hint).toContain('--yes')
    }

    expect(snapshot(home)).toEqual(homeBefore)
    expect(snapshot(dsaCore)).toEqual(agentBefore)
  })

  it('a terminal on only one side is no terminal: no prompt with stdin from /dev/null or stdout into a pipe', async () => {
    const dsaCore = await boundAgent()
    const noStdin = await onPty(['agent', 'reset', '--unbind', '--dsa-core', dsaCore], {stdin: 'null', expect: '(y/N)', answer: 'y'})
    const noStdout = await onPty(['agent', 'reset', '--unbind', '--dsa-core', dsaCore], {stdout: 'pipe', expect: '(y/N)', answer: 'y'})
    for (const result of [noStdin, noStdout]) {
      expect(result.prompted).toBe(false)
      expect(result.exitCode).toBe(2)
      expect(plain(result.terminal)).toContain('pass --yes to confirm from a script')
    }

    // Nothing of the prompt reaches stdout: only the classic status line (the same as dsa_control -r's).
    expect(noStdout.stdout).toBe('HTTP Status: 400 - Bad Request\n')
    expect(json(await tether(['agent', 'status', '--dsa-core', dsaCore, '--json'])).state).toBe('pre-activated')
  })

  it('--yes confirms on a terminal without asking', async () => {
    const dsaCore = await boundAgent()
    const result = await onPty(['agent', 'reset', '--unbind', '--yes', '--dsa-core', dsaCore], {expect: '(y/N)', answer: 'n'})
    expect(result.prompted).toBe(false)
    expect(result.exitCode).toBe(0)
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent_dsm.crt'))).toBe(false)
  })
})

describe('colour: a terminal, NO_COLOR and FORCE_COLOR', () => {
  // Any failing command prints the one error line; a missing manager home is quick to get.
  const failing = () => ['manager', 'show', '--home', path.join(tempDir(), 'none')]

  it('on a terminal, Error: is red unless NO_COLOR is set (and FORCE_COLOR wins over NO_COLOR)', async () => {
    const tty = await onPty(failing())
    expect(tty.exitCode).toBe(3)
    expect(tty.terminal).toContain(`${RED_ERROR} no manager home at`)

    const noColor = await onPty(failing(), {env: {NO_COLOR: '1'}})
    expect(noColor.exitCode).toBe(3)
    expect(noColor.terminal).toContain('Error: no manager home at')
    expect(noColor.terminal).not.toContain('\u001B[')

    const forced = await onPty(failing(), {env: {NO_COLOR: '1', FORCE_COLOR: '1'}})
    expect(forced.terminal).toContain(`${RED_ERROR} no manager home at`)

    const forcedOff = await onPty(failing(), {env: {FORCE_COLOR: '0'}})
    expect(forcedOff.terminal).toContain('Error: no manager home at')
    expect(forcedOff.terminal).not.toContain('\u001B[')
  })

  it('into pipes, Error: is plain unless FORCE_COLOR=1', async () => {
    const piped = await onPipes(failing())
    expect(piped.exitCode).toBe(3)
    expect(piped.stderr).toMatch(/^Error: no manager home at /)
    expect(piped.stderr).not.toContain('\u001B[')

    const forced = await onPipes(failing(), {FORCE_COLOR: '1'})
    expect(forced.exitCode).toBe(3)
    expect(forced.stderr.startsWith(`${RED_ERROR} no manager home at `)).toBe(true)
  })
})

describe('oclif plugins: not-found and autocomplete', () => {
  it('a misspelt command, with no terminal: the suggestion names manager, exit 127, no wait', async () => {
    const result = await onPipes(['managr', 'show'])
    expect(result.exitCode).toBe(127)
    expect(result.stderr).toBe('Error: managr show is not a tether command; did you mean `tether manager show`? (`tether help` lists every command)')
    expect(result.stdout).toBe('')

    const typoInSubcommand = await onPipes(['agent', 'install-servce'])
    expect(typoInSubcommand.exitCode).toBe(127)
    expect(typoInSubcommand.stderr).toContain('did you mean `tether agent install-service`?')

    const asJson = await onPipes(['managr', 'show', '--json'])
    expect(asJson.exitCode).toBe(127)
    expect(json(asJson).error).toEqual({
      code: 'command-not-found',
      class: 'usage',
      exitCode: 127,
      message: 'managr show is not a tether command',
      hint: 'did you mean `tether manager show`? (`tether help` lists every command)',
      details: {suggestion: 'tether manager show'},
    })
  })

  it('a misspelt command on a terminal: plugin-not-found asks; no runs nothing (127), yes runs manager show', async () => {
    const {home} = await initManager(tempDir())
    const declined = await onPty(['managr', 'show'], {expect: '(Y/n)', answer: 'n', env: {TETHER_MANAGER_HOME: home}})
    expect(declined.prompted).toBe(true)
    expect(plain(declined.terminal)).toContain('Did you mean manager show?')
    expect(declined.exitCode).toBe(127)
    expect(plain(declined.terminal)).not.toContain('Manager GUID')

    const accepted = await onPty(['managr', 'show'], {expect: '(Y/n)', answer: 'y', env: {TETHER_MANAGER_HOME: home}})
    expect(accepted.exitCode).toBe(0)
    expect(accepted.prompted).toBe(true)
    expect(plain(accepted.terminal)).toMatch(new RegExp(`Home: +${home}`))
    expect(plain(accepted.terminal)).toContain('Manager GUID')
  })

  it('tether autocomplete: --help works, and the completion it builds knows tether\'s commands', async () => {
    const help = await onPipes(['autocomplete', '--help'])
    expect(help.exitCode).toBe(0)
    expect(help.stdout).toContain('$ tether autocomplete [SHELL]')
    expect(help.stdout).toContain('(zsh|bash|powershell)')

    const cache = tempDir()
    const bash = await onPipes(['autocomplete', 'bash'], {XDG_CACHE_HOME: cache})
    expect(bash.exitCode).toBe(0)
    expect(bash.stdout).toContain('tether autocomplete script bash')
    const completion = fs.readFileSync(path.join(cache, 'tether', 'autocomplete', 'functions', 'bash', 'tether.bash'), 'utf8')
    expect(completion).toMatch(/^manager:init .*--force/mu)
    expect(completion).toMatch(/^agent:install-service .*--dry-run/mu)
  })

  it('help is still there', async () => {
    const result = await onPipes(['help', 'manager', 'init'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('$ tether manager init')
  })
})
