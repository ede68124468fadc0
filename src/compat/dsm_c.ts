import {TetherError} from '../errors.js'
import {parseClassicOptions} from './classic-args.js'

/**
 * `dsm_c`: the manager's classic command-line tool, translated to `tether manager ...` so there is
 * one implementation of each action. Option names are case-insensitive (`-Value`); each action
 * takes only its own options, and an unknown option or a missing value is a usage error.
 */

interface ActionSpec {
  summary: string
  usage: string
  /** Options this action takes besides -action and -home. */
  options: string[]
  translate(options: Map<string, string>): string[]
}

function required(options: Map<string, string>, action: string, name: string): string {
  const value = options.get(name)
  if (value === undefined) {
    throw new TetherError('usage', 'classic-usage', `dsm_c -action ${action} needs -${name}`, {hint: `usage: dsm_c ${DSM_C_ACTIONS[action].usage}`})
  }

  return value
}

function computerFlag(options: Map<string, string>): string[] {
  const computer = options.get('computername')
  return computer === undefined ? [] : ['--computer', computer]
}

export const DSM_C_ACTIONS: Record<string, ActionSpec> = {
  exportdsmcert: {
    summary: 'export the manager certificate for binding agents (-output DIR/ writes DIR/ds_agent_dsm.crt)',
    usage: '-action exportdsmcert -output ds_agent_dsm.crt [-tenantname NAME | -tenantid ID]',
    options: ['output', 'tenantname', 'tenantid'],
    translate(options) {
      if (options.has('tenantname') && options.has('tenantid')) {
        throw new TetherError('usage', 'classic-usage', 'dsm_c -action exportdsmcert takes -tenantname or -tenantid, not both', {hint: `usage: dsm_c ${DSM_C_ACTIONS.exportdsmcert.usage}`})
      }

      const tenant = options.has('tenantname') ? ['--tenant-name', options.get('tenantname')!] : options.has('tenantid') ? ['--tenant-id', options.get('tenantid')!] : []
      return ['manager', 'export-cert', '--output', required(options, 'exportdsmcert', 'output'), ...tenant]
    },
  },
  changesetting: {
    summary: 'change a manager setting (classic keys and values, or tether names)',
    usage: '-action changesetting [-computername NAME] -name settings.configuration.agentInitiatedActivation -value 1',
    options: ['name', 'value', 'computername'],
    translate: (options) => ['manager', 'settings', 'set', required(options, 'changesetting', 'name'), required(options, 'changesetting', 'value'), ...computerFlag(options)],
  },
  viewsetting: {
    summary: 'show a manager setting',
    usage: '-action viewsetting [-computername NAME] -name settings.configuration.agentInitiatedActivation',
    options: ['name', 'computername'],
    translate: (options) => ['manager', 'settings', 'get', required(options, 'viewsetting', 'name'), ...computerFlag(options)],
  },
}

export function dsmCUsage(): string {
  const lines = Object.entries(DSM_C_ACTIONS).map(([name, spec]) => `  ${name.padEnd(16)} ${spec.summary}\n      dsm_c ${spec.usage}`)
  return `usage: dsm_c -action ACTION [-option value ...] [--json]\nactions:\n${lines.join('\n')}\nenvironment: TETHER_MANAGER_HOME selects the manager home (or pass -home DIR)`
}

/** Translate classic dsm_c arguments to the equivalent `tether` argv. */
export function translateDsmC(argv: string[]): string[] {
  if (argv.length === 0 || ['-h', '-help', '--help', '-?'].includes(argv[0]?.toLowerCase())) {
    return ['__usage__']
  }

  const {options, json} = parseClassicOptions(argv, 'dsm_c')
  const action = options.get('action')?.toLowerCase()
  if (!action) {
    throw new TetherError('usage', 'classic-usage', 'dsm_c: -action is required', {hint: `supported actions: ${Object.keys(DSM_C_ACTIONS).join(', ')}`})
  }

  // Own keys only: "constructor" is not an action (found by fuzzing).
  const spec = Object.hasOwn(DSM_C_ACTIONS, action) ? DSM_C_ACTIONS[action] : undefined
  if (!spec) {
    throw new TetherError('usage', 'unknown-action', `dsm_c: unknown action "${options.get('action')}"`, {
      hint: `supported actions: ${Object.keys(DSM_C_ACTIONS).join(', ')}`,
    })
  }

  for (const name of options.keys()) {
    if (name === 'action' || name === 'home' || spec.options.includes(name)) continue
    throw new TetherError('usage', 'unknown-option', `dsm_c -action ${action} does not take -${name}`, {
      hint: `usage: dsm_c ${spec.usage}${spec.options.length > 0 ? ` (options: ${spec.options.map((o) => `-${o}`).join(' ')})` : ''}`,
    })
  }

  const args = spec.translate(options)
  const home = options.get('home')
  if (home) args.push('--home', home)
  if (json) args.push('--json')
  return args
}
