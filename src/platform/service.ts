import fs from 'node:fs'
import path from 'node:path'

import {execa} from 'execa'

import {TetherError, errnoCode} from '../errors.js'
import {PRIVATE_DIR_MODE, PUBLIC_FILE_MODE, readIfExists, writeFileAtomic} from './fsutil.js'
import {Platform, currentPlatform} from './paths.js'

/**
 * Running the agent or the manager as an operating-system service: a systemd unit on Linux, the
 * `sc.exe` commands on Windows. Everything here is computed from the options alone (no probing of
 * the machine), so the same plan can be shown with --dry-run, printed for another platform, and
 * checked exactly in tests; only `installService` touches the disk and runs systemctl.
 */

export type ServiceRole = 'agent' | 'manager'

export const DEFAULT_UNIT_DIR = '/etc/systemd/system'

export interface ServiceSpec {
  role: ServiceRole
  platform: Platform
  /** The program and its leading arguments, e.g. [node, .../bin/run.js] or [/usr/local/bin/tether]. */
  program: string[]
  /** The agent's dsa_core or the manager's home, absolute for `platform`. */
  stateDir: string
  host: string
  port: number
  /** Linux: User= (default root). Windows: obj= (default: LocalSystem, i.e. omitted). */
  user?: string
  /** Linux only: where the unit file goes. */
  unitDir: string
}

export interface ServicePlan {
  role: ServiceRole
  platform: Platform
  /** systemd unit name (tether-agent.service) or Windows service name (tether-agent). */
  service: string
  stateDir: string
  /** The full command line the service runs. */
  execStart: string[]
  unitFile: string | null
  unit: string | null
  /** What makes the service run at boot and start it now, in order. */
  commands: string[][]
  notes: string[]
}

const STATE_ENV: Record<ServiceRole, {env: string; flag: string}> = {
  agent: {env: 'TETHER_DSA_CORE', flag: '--dsa-core'},
  manager: {env: 'TETHER_MANAGER_HOME', flag: '--home'},
}

const DESCRIPTION: Record<ServiceRole, string> = {
  agent: 'tether agent (command server for the tether manager)',
  manager: 'tether manager (certificate authority, registry and heartbeat listener)',
}

export function serviceName(role: ServiceRole): string {
  return `tether-${role}`
}

/** The argv the service runs: `tether agent start --dsa-core ...` or `tether manager start --home ...`. */
export function serviceCommand(spec: ServiceSpec): string[] {
  const {flag} = STATE_ENV[spec.role]
  return [...spec.program, spec.role, 'start', flag, spec.stateDir, '--host', spec.host, '--port', String(spec.port)]
}

/**
 * One word of a systemd command line or assignment. systemd splits on whitespace, honours double
 * quotes with C escapes, and expands `%` specifiers everywhere and `$` variables in ExecStart, so
 * those are doubled; a word that needs it is quoted.
 */
export function systemdWord(word: string, options: {command?: boolean} = {}): string {
  const percent = word.replaceAll('%', '%%')
  const escaped = options.command ? percent.replaceAll('$', '$$$$') : percent
  if (/^[\w@+=:,./-]+$/u.test(escaped)) return escaped
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
}

/** The descriptor limit the units set (systemd's default soft limit is 1024). */
export const SERVICE_NOFILE_LIMIT = 65_536

/** The systemd unit that runs `spec`, with the hardening that suits a network daemon holding keys. */
export function systemdUnit(spec: ServiceSpec): string {
  const {env} = STATE_ENV[spec.role]
  const user = spec.user ?? 'root'
  const lines = [
    `# Written by \`tether ${spec.role} install-service\`. Regenerate it with that command rather than editing it.`,
    '[Unit]',
    `Description=${DESCRIPTION[spec.role]}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `User=${user}`,
    `Environment=${systemdWord(`${env}=${spec.stateDir}`)}`,
    `ExecStart=${serviceCommand(spec).map((word) => systemdWord(word, {command: true})).join(' ')}`,
    'Restart=on-failure',
    'RestartSec=5',
    'TimeoutStopSec=30',
    // One descriptor per connection: far above what the per-source cap and handshake deadline let
    // a flood hold, and above the 1024 soft limit a flood of idle connections once exhausted.
    `LimitNOFILE=${SERVICE_NOFILE_LIMIT}`,
    // Keys are written 0600 anyway; nothing the service creates should be readable by others.
    'UMask=0077',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${systemdWord(spec.stateDir)}`,
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
  ]
  // A non-root service may still need a port below 1024.
  if (user !== 'root' && user !== '0' && spec.port < 1024) lines.push('AmbientCapabilities=CAP_NET_BIND_SERVICE')
  lines.push('', '[Install]', 'WantedBy=multi-user.target', '')
  return lines.join('\n')
}

/**
 * One argument as the Microsoft C runtime (and so sc.exe and node.exe) splits a command line:
 * quoted when it holds a space, tab or quote; backslashes doubled only before a quote.
 */
export function windowsArg(arg: string): string {
  if (arg !== '' && !/[\s"]/u.test(arg)) return arg
  let out = '"'
  let backslashes = 0
  for (const ch of arg) {
    if (ch === '\\') {
      backslashes++
      continue
    }

    out += ch === '"' ? `${'\\'.repeat(backslashes * 2 + 1)}"` : `${'\\'.repeat(backslashes)}${ch}`
    backslashes = 0
  }

  return `${out}${'\\'.repeat(backslashes * 2)}"`
}

/** A command for an operator to paste into a POSIX shell. */
export function posixCommandLine(argv: string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/u.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`)).join(' ')
}

/** A command for an operator to paste into cmd.exe. */
export function windowsCommandLine(argv: string[]): string {
  return argv.map((arg) => windowsArg(arg)).join(' ')
}

export function commandLine(platform: Platform, argv: string[]): string {
  return platform === 'windows' ? windowsCommandLine(argv) : posixCommandLine(argv)
}

function checkValue(what: string, value: string): void {
  // A line break would end the directive and start another one of the caller's choosing.
  if (/[\0\r\n]/u.test(value)) {
    throw new TetherError('usage', 'bad-service-value', `${what} must not contain a line break or NUL`, {hint: `check the value given for ${what}`})
  }
}

function validate(spec: ServiceSpec): void {
  for (const [index, word] of spec.program.entries()) checkValue(index === 0 ? '--bin' : 'the program path', word)
  checkValue(spec.role === 'agent' ? '--dsa-core' : '--home', spec.stateDir)
  checkValue('--host', spec.host)
  if (spec.user !== undefined) {
    checkValue('--user', spec.user)
    if (spec.platform === 'linux' && !/^[A-Za-z0-9_][\w.-]*\$?$/u.test(spec.user)) {
      throw new TetherError('usage', 'bad-service-value', `--user ${JSON.stringify(spec.user)} is not a valid user name or ID for systemd`, {
        hint: 'give a user name such as tether, or a numeric user ID',
      })
    }
  }
}

/** What installing the service means on its platform: the unit text, or the sc.exe commands. */
export function planService(spec: ServiceSpec): ServicePlan {
  validate(spec)
  const execStart = serviceCommand(spec)
  const notes: string[] = []
  if (spec.platform === 'windows') {
    const name = serviceName(spec.role)
    const create = ['sc.exe', 'create', name, 'binPath=', windowsCommandLine(execStart), 'start=', 'auto', 'DisplayName=', `tether ${spec.role}`]
    if (spec.user !== undefined) create.push('obj=', spec.user)
    notes.push(
      'A Windows service must answer the Service Control Manager, which Node.js does not do by itself: if Windows reports error 1053, run the same command line under a service wrapper (WinSW, NSSM) instead.',
    )
    return {
      role: spec.role,
      platform: spec.platform,
      service: name,
      stateDir: spec.stateDir,
      execStart,
      unitFile: null,
      unit: null,
      commands: [
        create,
        // The counterpart of Restart=on-failure: restart after 5 s, twice, then after a minute.
        ['sc.exe', 'failure', name, 'reset=', '86400', 'actions=', 'restart/5000/restart/5000/restart/60000'],
        ['sc.exe', 'start', name],
      ],
      notes,
    }
  }

  const unitName = `${serviceName(spec.role)}.service`
  return {
    role: spec.role,
    platform: spec.platform,
    service: unitName,
    stateDir: spec.stateDir,
    execStart,
    unitFile: path.posix.join(spec.unitDir, unitName),
    unit: systemdUnit(spec),
    commands: [
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', unitName],
    ],
    notes,
  }
}

export interface InstallOptions {
  dryRun: boolean
  force: boolean
  enable: boolean
  /** Create this directory (owner-only, owned by the service user) when it is missing: the agent's dsa_core. */
  createStateDir: boolean
}

export interface InstallResult {
  written: boolean
  /** The unit file already held exactly this unit. */
  unchanged: boolean
  /** State directory created for the service (null: it existed, or nothing was created). */
  createdDir: string | null
  enabled: boolean
}

/** The unit file as it is now: absent, the same as planned, or different. */
function existingUnit(plan: ServicePlan): 'absent' | 'same' | 'different' {
  const current = readIfExists(plan.unitFile as string)
  if (current === undefined) return 'absent'
  return current.toString('utf8') === plan.unit ? 'same' : 'different'
}

/**
 * Write the unit (atomically; a different unit already there is kept unless `force`), create the
 * state directory the unit's ReadWritePaths names, and with `enable` run systemctl. `dryRun`
 * checks the same conditions and changes nothing.
 */
export async function installService(plan: ServicePlan, spec: ServiceSpec, options: InstallOptions): Promise<InstallResult> {
  if (plan.platform === 'windows') {
    if (options.enable) {
      throw new TetherError('usage', 'enable-unsupported', 'tether does not create Windows services itself', {
        hint: 'run the printed sc.exe commands in an elevated Command Prompt, without --enable',
      })
    }

    return {written: false, unchanged: false, createdDir: null, enabled: false}
  }

  if (currentPlatform() !== 'linux' && !options.dryRun) {
    throw new TetherError('usage', 'foreign-platform-service', 'a systemd unit can only be installed on Linux', {hint: 'add --dry-run to see the unit'})
  }

  const unitFile = plan.unitFile as string
  const state = existingUnit(plan)
  if (state === 'different' && !options.force) {
    throw new TetherError('refused', 'unit-exists', `${unitFile} already exists and differs from the unit tether would write`, {
      hint: 'add --dry-run to see the new unit, or --force to replace the file',
      details: {unitFile},
    })
  }

  if (options.dryRun) return {written: false, unchanged: state === 'same', createdDir: null, enabled: false}

  const createdDir = options.createStateDir ? await ensureStateDir(spec) : null
  if (state !== 'same') {
    try {
      writeFileAtomic(unitFile, plan.unit as string, PUBLIC_FILE_MODE)
    } catch (error) {
      const code = errnoCode(error)
      if (code === 'ENOENT') {
        throw new TetherError('notFound', 'unit-dir-missing', `the unit directory ${path.dirname(unitFile)} does not exist`, {
          hint: 'is this a systemd machine? Choose the directory with --unit-dir',
        })
      }

      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new TetherError('usage', 'unit-dir-unwritable', `cannot write ${unitFile} (${code})`, {
          hint: 'run as root (sudo), or write the unit elsewhere with --unit-dir',
        })
      }

      throw error
    }
  }

  if (options.enable) {
    for (const argv of plan.commands) await runSystemctl(argv)
  }

  return {written: state !== 'same', unchanged: state === 'same', createdDir, enabled: options.enable}
}

/**
 * ProtectSystem=strict makes everything but ReadWritePaths read-only, and systemd refuses to start
 * a unit whose ReadWritePaths is missing; so the directory must exist before the first start. Its
 * parent must exist already (the product is installed there), as `agent start` also requires.
 */
async function ensureStateDir(spec: ServiceSpec): Promise<string | null> {
  const dir = spec.stateDir
  if (fs.existsSync(dir)) return null
  const parent = path.dirname(dir)
  if (!fs.existsSync(parent)) {
    throw new TetherError('notFound', 'state-dir-parent-missing', `the directory ${parent} does not exist`, {
      hint: 'install the product first, or choose the state directory with --dsa-core',
    })
  }

  const user = spec.user ?? 'root'
  // Look the user up first: an unknown user leaves nothing behind.
  const ids = user === 'root' || user === '0' ? undefined : await userIds(user)
  fs.mkdirSync(dir, {mode: PRIVATE_DIR_MODE})
  fs.chmodSync(dir, PRIVATE_DIR_MODE)
  if (ids) fs.chownSync(dir, ids.uid, ids.gid)
  return dir
}

async function userIds(user: string): Promise<{uid: number; gid: number}> {
  const lookup = async (flag: string) => {
    const result = await execa('id', [flag, user], {reject: false})
    const value = Number.parseInt(String(result.stdout).trim(), 10)
    if (result.exitCode !== 0 || !Number.isInteger(value)) {
      throw new TetherError('notFound', 'unknown-user', `there is no user ${user} on this machine`, {
        hint: 'create the user first (useradd --system), or choose another with --user',
      })
    }

    return value
  }

  return {uid: await lookup('-u'), gid: await lookup('-g')}
}

async function runSystemctl(argv: string[]): Promise<void> {
  const result = await execa(argv[0], argv.slice(1), {reject: false, stdin: 'ignore'})
  const shown = posixCommandLine(argv)
  if ((result as {code?: string}).code === 'ENOENT') {
    throw new TetherError('notFound', 'systemctl-missing', `${argv[0]} was not found`, {
      hint: 'this machine does not run systemd; start the service with the init system it has',
    })
  }

  if (result.exitCode !== 0) {
    const said = String(result.stderr).trim().split('\n')[0] || `exit code ${result.exitCode ?? result.signal}`
    throw new TetherError('unreachable', 'systemctl-failed', `\`${shown}\` failed: ${said}`, {
      hint: 'the unit file is in place; fix the cause and run the systemctl commands again',
    })
  }
}
