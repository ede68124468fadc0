import {TetherError} from '../errors.js'
import {parseClassicOptions} from './classic-args.js'

/**
 * `dsm_c`: the manager's classic command-line tool, translated to `tether manager ...` so there is
 * one implementation of each action.
 */

interface ActionSpec {
  summary: string
  usage: string
  translate(options: Map<string, string>): string[]
}

function required(options: Map<string, string>, action: string, name: string): string {
  const value = options.get(name)
  if (value === undefined) {
    throw new TetherError('usage', 'classic-usage', `dsm_c -action ${action} needs -${name}`, {hint: `usage: dsm_c ${DSM_C_ACTIONS[action].usage}`})
  }

  return value
}

export const DSM_C_ACTIONS: Record<string, ActionSpec> = {
  exportdsmcert: {
    summary: 'export the manager certificate for binding agents',
    usage: '-action exportdsmcert -output ds_agent_dsm.crt',
    translate: (options) => ['manager', 'export-cert', '--output', required(options, 'exportdsmcert', 'output')],
  },
  changesetting: {
    summary: 'change a manager setting (classic keys and values, or tether names)',
    usage: '-action changesetting -name settings.configuration.agentInitiatedActivation -value 1',
    translate: (options) => ['manager', 'settings', 'set', required(options, 'changesetting', 'name'), required(options, 'changesetting', 'value')],
  },
  viewsetting: {
    summary: 'show a manager setting',
    usage: '-action viewsetting -name settings.configuration.agentInitiatedActivation',
    translate: (options) => ['manager', 'settings', 'get', required(options, 'viewsetting', 'name')],
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

  const args = spec.translate(options)
  const home = options.get('home')
  if (home) args.push('--home', home)
  if (json) args.push('--json')
  return args
}
