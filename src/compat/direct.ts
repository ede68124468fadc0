import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {CommandOutput} from '../cli/command-output.js'
import type {RenderOptions} from '../cli/render-failure.js'
import {TetherError, asTetherError} from '../errors.js'
import {resolveDsaCore, resolveManagerHome} from '../platform/paths.js'

/**
 * Commands that run without oclif: loading it is most of a cold start, and provisioning scripts
 * call the classic tools (dsm_c -action exportdsmcert, dsa_control -r and -m, dsa_query,
 * sendCommand) once per machine. Each runs the same function as its tether command and prints
 * exactly what the command prints (text, --json, failures and exit codes). A command line this
 * parser does not read exactly as oclif would (a flag value that starts with `-`, a repeated or
 * unknown flag, a missing argument) goes through oclif, which decides what it is.
 */

interface Spec {
  /** Flags that take a value (`--name value`). */
  values: string[]
  /** Boolean flags. */
  switches: string[]
  /** How many positional arguments the command takes (`--` ends the flags). */
  positionals: {min: number; max: number}
}

interface Parsed {
  values: Map<string, string>
  switches: Set<string>
  positionals: string[]
  json: boolean
}

/** The command line read as oclif reads it, or undefined for anything oclif should decide. */
function parseOnly(args: string[], spec: Spec): Parsed | undefined {
  const parsed: Parsed = {values: new Map(), switches: new Set(), positionals: [], json: false}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--') {
      parsed.positionals.push(...args.slice(i + 1))
      break
    }

    if (!arg.startsWith('-')) parsed.positionals.push(arg)
    else if (arg === '--json' && !parsed.json) parsed.json = true
    else if (spec.switches.includes(arg) && !parsed.switches.has(arg)) parsed.switches.add(arg)
    // A value oclif might read as a flag (or an empty one) is left to oclif.
    else if (spec.values.includes(arg) && !parsed.values.has(arg) && i + 1 < args.length && args[i + 1] !== '' && !args[i + 1].startsWith('-')) parsed.values.set(arg, args[++i])
    else return undefined
  }

  const {min, max} = spec.positionals
  return parsed.positionals.length >= min && parsed.positionals.length <= max ? parsed : undefined
}

/** Human lines as a command's log writes them (one string: as it is, then a newline); none under --json. */
function outputFor(json: boolean): CommandOutput {
  return {
    log(line) {
      if (!json) process.stdout.write(`${line}\n`)
    },
    logToStderr(line) {
      if (!json) process.stderr.write(`${line}\n`)
    },
    json,
  }
}

/**
 * A tether command line: its direct path when it has one, else oclif. oclif's execute alone, not
 * its index: a command class loads the index when it runs, help needs less.
 */
export async function runTether(args: string[], dir: string): Promise<void> {
  if (await runDirect(args)) return
  // Lazy: oclif is most of a cold start, and a command with a direct path never needs it.
  const {execute} = await import('@oclif/core/execute')
  await execute({args, dir})
}

/** Show a failure as every tether command does; returns the exit code. */
export async function showFailure(failure: TetherError, options: RenderOptions): Promise<number> {
  // Lazy: the renderer loads only when something failed.
  const {renderFailure} = await import('../cli/render-failure.js')
  return renderFailure(failure, options)
}


interface DirectCommand extends Spec {
  /** Whether the values are ones oclif would take as they are (else oclif runs the command). */
  accepts?(parsed: Parsed): boolean
  /** The JSON document (printed with --json). */
  run(parsed: Parsed, out: CommandOutput): Promise<object>
}

const AGENT: Pick<Spec, 'values'> = {values: ['--dsa-core']}
// Lazy: each command loads only its own modules (the manager home alone is thirty of them).
const agentStore = () => import('../agent/store.js')
const dsaCore = async (parsed: Parsed) => new (await agentStore()).DsaCore(resolveDsaCore(parsed.values.get('--dsa-core')))
// Lazy: its files alone, without the certificate, lock and journal modules, for a command that only reads them (a heartbeat through the running agent).
const dsaCoreFiles = async (parsed: Parsed) => new (await import('../agent/store-files.js')).DsaCoreFiles(resolveDsaCore(parsed.values.get('--dsa-core')))

const COMMANDS: Record<string, DirectCommand> = {
  'manager export-cert': {
    values: ['--output', '--home'],
    switches: [],
    positionals: {min: 0, max: 0},
    accepts: (parsed) => parsed.values.has('--output'),
    async run(parsed, out) {
      const output = parsed.values.get('--output')!
      // Lazy: as above, the manager home's modules load only for this command.
      const {exportManagerCertificate, ManagerHome} = await import('../manager/home.js')
      const result = await exportManagerCertificate(new ManagerHome(resolveManagerHome(parsed.values.get('--home'))), output)
      out.log(`Wrote ${result.file} (SHA-256 ${result.certificate.sha256})`)
      return result
    },
  },
  'agent reset': {
    values: [...AGENT.values, '--password'],
    switches: ['--yes', '--unbind'],
    positionals: {min: 0, max: 0},
    async run(parsed, out) {
      const flags = {yes: parsed.switches.has('--yes'), unbind: parsed.switches.has('--unbind'), password: parsed.values.get('--password')}
      // Lazy: as above, this command's modules only.
      const {agentResetCommand} = await import('../cli/agent/reset.js')
      return agentResetCommand(await dsaCore(parsed), flags, out)
    },
  },
  'agent heartbeat': {
    values: [...AGENT.values, '--password', '--service-retries'],
    switches: ['--no-contact'],
    positionals: {min: 0, max: Number.POSITIVE_INFINITY},
    // oclif's integer flag, 0 to 1000; any other value is oclif's to refuse.
    accepts: (parsed) => /^\d{1,4}$/.test(parsed.values.get('--service-retries') ?? '0') && Number(parsed.values.get('--service-retries') ?? 0) <= 1000,
    async run(parsed, out) {
      const flags = {password: parsed.values.get('--password'), 'service-retries': Number(parsed.values.get('--service-retries') ?? 0), 'no-contact': parsed.switches.has('--no-contact')}
      // Lazy: as above, this command's modules only.
      const {agentHeartbeatCommand} = await import('../cli/agent/heartbeat.js')
      return agentHeartbeatCommand(await dsaCoreFiles(parsed), parsed.positionals, flags, out)
    },
  },
  'agent query': {
    values: AGENT.values,
    switches: ['--xml', '--raw'],
    positionals: {min: 1, max: 2},
    async run(parsed, out) {
      const [command, pattern] = parsed.positionals
      // Lazy: as above, this command's modules only.
      const {agentQueryCommand} = await import('../cli/agent/query.js')
      return agentQueryCommand(await dsaCore(parsed), {command, pattern}, {xml: parsed.switches.has('--xml'), raw: parsed.switches.has('--raw')}, out)
    },
  },
  'agent status': {
    values: AGENT.values,
    switches: [],
    positionals: {min: 0, max: 0},
    async run(parsed, out) {
      // Lazy: as above, this command's modules only.
      const {agentStatusCommand} = await import('../cli/agent/status.js')
      return agentStatusCommand(await dsaCore(parsed), out)
    },
  },
}

/**
 * Whether oclif would colour --json with a user's theme (`<config dir>/theme.json`, the directory
 * as oclif's Config names it): a rare setup, left to oclif.
 */
function userTheme(): boolean {
  const env = process.env
  if (env.TETHER_DISABLE_THEME === 'true' || env.TETHER_DISABLE_THEME === '1') return false
  const base = env.XDG_CONFIG_HOME || (process.platform === 'win32' && env.LOCALAPPDATA) || path.join(env.HOME || os.homedir() || os.tmpdir(), '.config')
  return fs.existsSync(path.join(env.TETHER_CONFIG_DIR || path.join(base, 'tether'), 'theme.json'))
}

async function rootHelpDirect(): Promise<boolean> {
  // Lazy: only the root help reads the manifests.
  const {rootHelp} = await import('../cli/root-help.js')
  const text = rootHelp(fileURLToPath(new URL('../../', import.meta.url)))
  if (text === undefined) return false
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
  })
  process.stdout.write(text)
  return true
}

/**
 * Run a tether command line directly if it has a direct path; false: oclif runs it. The parse
 * happens first, so a command line it does not take leaves nothing done and nothing printed.
 */
export async function runDirect(args: string[]): Promise<boolean> {
  // `tether --help` and `tether` alone: the root help, when it can be rendered as oclif would.
  if (args.length === 0 || (args.length === 1 && args[0] === '--help')) return rootHelpDirect()
  const command = COMMANDS[`${args[0]} ${args[1]}`]
  // TETHER_CONTENT_TYPE=json turns on oclif's JSON output without --json: oclif's to honour.
  if (!command || process.env.TETHER_CONTENT_TYPE !== undefined) return false
  const parsed = parseOnly(args.slice(2), command)
  if (!parsed || (command.accepts && !command.accepts(parsed)) || (parsed.json && userTheme())) return false
  // As oclif does: a reader that closed early (`dsa_query ... | head -1`) is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
  })
  let result: object
  try {
    result = await command.run(parsed, outputFor(parsed.json))
  } catch (error) {
    process.exitCode = await showFailure(asTetherError(error), {json: parsed.json})
    return true
  }

  if (parsed.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  return true
}
