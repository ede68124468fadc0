import path from 'node:path'

import {Flags} from '@oclif/core'

import {TetherError} from '../errors.js'
import {ManagerHome} from '../manager/home.js'
import {
  DEFAULT_AGENT_PORT,
  DEFAULT_MANAGER_PORT,
  DSA_CORE_ENV,
  MANAGER_HOME_ENV,
  Platform,
  currentPlatform,
  defaultDsaCore,
  defaultManagerHome,
} from '../platform/paths.js'
import {DEFAULT_UNIT_DIR, ServicePlan, ServiceRole, ServiceSpec, commandLine, installService, planService} from '../platform/service.js'

/** What `tether agent install-service` and `tether manager install-service` share. */

/** The flags of both commands but the state directory (--dsa-core or --home, added by each). */
export function serviceFlags(role: ServiceRole) {
  return {
    platform: Flags.string({description: 'platform to install for (default: this machine\'s)', options: ['linux', 'windows']}),
    'unit-dir': Flags.string({description: `directory for the systemd unit (default: ${DEFAULT_UNIT_DIR}; Linux only)`, helpValue: 'DIR'}),
    port: Flags.integer({
      description: role === 'agent' ? 'port the agent listens on for the manager' : 'heartbeat port the manager listens on',
      default: role === 'agent' ? DEFAULT_AGENT_PORT : DEFAULT_MANAGER_PORT,
      min: 1,
      max: 65_535,
    }),
    host: Flags.string({description: 'address to listen on (0.0.0.0 for a real deployment)', default: '127.0.0.1'}),
    user: Flags.string({description: 'account the service runs as (default: root on Linux, LocalSystem on Windows)'}),
    bin: Flags.string({
      description: 'absolute path of the tether executable the service runs, on the target machine (default: this tether\'s bin/run.js, run by this Node.js)',
      helpValue: 'PATH',
    }),
    node: Flags.string({description: 'absolute path of the Node.js that runs --bin when it is a .js file (default: this one)', helpValue: 'PATH'}),
    enable: Flags.boolean({description: 'also run systemctl daemon-reload and systemctl enable --now (Linux)', default: false}),
    'dry-run': Flags.boolean({description: 'print what would be written and run; change nothing', default: false}),
    force: Flags.boolean({description: 'replace a unit file that differs from the one tether writes', default: false}),
  }
}

export interface ServiceFlags {
  platform?: string
  'unit-dir'?: string
  'dsa-core'?: string
  home?: string
  port: number
  host: string
  user?: string
  bin?: string
  node?: string
  enable: boolean
  'dry-run': boolean
  force: boolean
}

const isAbsoluteFor = (platform: Platform, p: string) =>
  platform === 'windows' ? /^(?:[A-Za-z]:[\\/]|\\\\[^\\]+\\)/u.test(p) : path.posix.isAbsolute(p)

const pathApi = (platform: Platform) => (platform === 'windows' ? path.win32 : path.posix)

/** A path baked into the service: resolved here on this platform, required absolute for another. */
function servicePath(platform: Platform, value: string, what: string): string {
  if (platform === currentPlatform()) return path.resolve(value)
  if (!isAbsoluteFor(platform, value)) {
    throw new TetherError('usage', 'foreign-platform-path', `${what} ${JSON.stringify(value)} is not an absolute ${platform} path`, {
      hint: `installing for ${platform} from this ${currentPlatform()} machine needs absolute ${platform} paths`,
    })
  }

  return pathApi(platform).normalize(value)
}

function stateDir(role: ServiceRole, platform: Platform, flags: ServiceFlags, env: NodeJS.ProcessEnv): string {
  const flag = role === 'agent' ? flags['dsa-core'] : flags.home
  const fromEnv = env[role === 'agent' ? DSA_CORE_ENV : MANAGER_HOME_ENV]
  const what = role === 'agent' ? '--dsa-core' : '--home'
  if (flag) return servicePath(platform, flag, what)
  if (fromEnv) return servicePath(platform, fromEnv, `$${role === 'agent' ? DSA_CORE_ENV : MANAGER_HOME_ENV}`)
  const fallback = role === 'agent' ? defaultDsaCore(platform, env) : defaultManagerHome(env, platform)
  if (platform !== currentPlatform() && !isAbsoluteFor(platform, fallback)) {
    throw new TetherError('usage', 'foreign-platform-path', `the default ${role === 'agent' ? 'dsa_core' : 'manager home'} on ${platform} cannot be known from this ${currentPlatform()} machine`, {
      hint: `pass ${what} with an absolute ${platform} path`,
    })
  }

  return servicePath(platform, fallback, what)
}

/** The program line: --bin (with Node.js in front when it is a script), else this very tether. */
function program(platform: Platform, flags: ServiceFlags, root: string): string[] {
  const foreign = platform !== currentPlatform()
  const node = () => {
    if (flags.node) return servicePath(platform, flags.node, '--node')
    if (foreign) {
      throw new TetherError('usage', 'foreign-platform-path', `this machine's Node.js cannot be the one on the ${platform} machine`, {
        hint: `pass --node (and --bin) with absolute paths on the ${platform} machine`,
      })
    }

    return process.execPath
  }

  if (!flags.bin) {
    if (foreign) {
      throw new TetherError('usage', 'foreign-platform-path', `this tether's path means nothing on the ${platform} machine`, {
        hint: `pass --bin (and --node when it is a .js file) with absolute paths on the ${platform} machine`,
      })
    }

    return [node(), path.join(root, 'bin', 'run.js')]
  }

  if (!isAbsoluteFor(platform, flags.bin)) {
    throw new TetherError('usage', 'bin-not-absolute', `--bin ${JSON.stringify(flags.bin)} is not an absolute path`, {
      hint: 'a service starts with no working directory or PATH of yours; give the full path',
    })
  }

  const bin = pathApi(platform).normalize(flags.bin)
  if (bin.toLowerCase().endsWith('.js')) return [node(), bin]
  if (flags.node) {
    throw new TetherError('usage', 'conflicting-flags', '--node applies only when --bin is a .js file', {hint: 'drop --node, or point --bin at bin/run.js'})
  }

  return [bin]
}

export interface ServiceCommandResult extends ServicePlan {
  dryRun: boolean
  written: boolean
  unchanged: boolean
  createdDir: string | null
  enabled: boolean
}

/** Plan, check, write and enable; `log` receives the human account. */
export async function runInstallService(
  role: ServiceRole,
  flags: ServiceFlags,
  options: {root: string; log: (line: string) => void; env?: NodeJS.ProcessEnv},
): Promise<ServiceCommandResult> {
  const env = options.env ?? process.env
  const platform = (flags.platform as Platform | undefined) ?? currentPlatform()
  if (platform === 'windows' && flags['unit-dir']) {
    throw new TetherError('usage', 'conflicting-flags', '--unit-dir applies to systemd units (Linux) only', {hint: 'drop --unit-dir, or use --platform linux'})
  }

  const spec: ServiceSpec = {
    role,
    platform,
    program: program(platform, flags, options.root),
    stateDir: stateDir(role, platform, flags, env),
    host: flags.host,
    port: flags.port,
    user: flags.user,
    unitDir: flags['unit-dir'] ? servicePath(platform, flags['unit-dir'], '--unit-dir') : DEFAULT_UNIT_DIR,
  }
  const plan = planService(spec)
  const dryRun = flags['dry-run']
  const local = platform === currentPlatform()
  if (role === 'manager' && local && !new ManagerHome(spec.stateDir).looksInitialized()) {
    const init = commandLine(platform, ['tether', 'manager', 'init', '--home', spec.stateDir])
    if (flags.enable && !dryRun) {
      throw new TetherError('notFound', 'home-not-initialized', `no manager home at ${spec.stateDir}: the service would fail at every start`, {
        hint: `run \`${init}\` first, or install without --enable`,
      })
    }

    plan.notes.push(`The manager home ${spec.stateDir} is not initialized: run \`${init}\`${spec.user ? ` as ${spec.user}` : ''} before the service starts.`)
  }

  if (platform === 'linux' && spec.user !== undefined && spec.user !== 'root' && spec.user !== '0') {
    plan.notes.push(`The service runs as ${spec.user}, who must own ${spec.stateDir} and the files in it.`)
  }

  const outcome = await installService(plan, spec, {dryRun, force: flags.force, enable: flags.enable, createStateDir: role === 'agent'})
  const {log} = options
  const indent = (argv: string[]) => `  ${commandLine(platform, argv)}`
  if (platform === 'windows') {
    log('Run these in an elevated Command Prompt on the Windows machine:')
    for (const argv of plan.commands) log(indent(argv))
    for (const note of plan.notes) log(`Note: ${note}`)
  } else {
    if (dryRun) {
      log(outcome.unchanged ? `${plan.unitFile} already holds this unit:` : `Would write ${plan.unitFile}:`)
      log('')
      log((plan.unit as string).trimEnd())
      log('')
    } else {
      if (outcome.createdDir) log(`Created ${outcome.createdDir} (owner-only)`)
      log(outcome.written ? `Wrote ${plan.unitFile}` : `${plan.unitFile} already holds this unit; left it as it is`)
    }

    if (outcome.enabled) log(`Ran:\n${plan.commands.map((argv) => indent(argv)).join('\n')}\n${plan.service} is enabled and started`)
    else if (dryRun && flags.enable) log(`Would run:\n${plan.commands.map((argv) => indent(argv)).join('\n')}`)
    else log(`To start it now and at every boot, run (or add --enable):\n${plan.commands.map((argv) => indent(argv)).join('\n')}`)
    for (const note of plan.notes) log(`Note: ${note}`)
  }

  return {...plan, dryRun, ...outcome}
}
