import {TetherError} from '../errors.js'

/**
 * `dsa_control`: the agent's classic control tool, translated to `tether agent ...`. Its options
 * are single letters, some taking a value (`-a dsm://host:4120/`), followed by free arguments.
 */

interface OptionSpec {
  summary: string
  usage: string
  translate(rest: string[]): string[]
}

export const DSA_CONTROL_OPTIONS: Record<string, OptionSpec> = {
  '-a': {
    summary: 'activate: ask the manager at dsm://HOST:PORT/ to activate this agent (key:value arguments in any order)',
    usage: '-a dsm://HOST:PORT/ ["hostname:NAME"] ["displayname:NAME"] ["description:TEXT"] ["group:NAME"] ["policyid:N"] ["tenantID:ID"] ["token:SECRET"]',
    translate(rest) {
      if (rest.length === 0 || !rest[0].toLowerCase().startsWith('dsm://')) {
        throw new TetherError('usage', 'bad-manager-url', `dsa_control -a needs the manager URL dsm://HOST:PORT/${rest[0] ? `, not "${rest[0]}"` : ''}`, {hint: 'e.g. dsa_control -a dsm://dsm.example.internal:4120/'})
      }

      return ['agent', 'activate', ...rest]
    },
  },
  '-m': {
    summary: 'send a heartbeat to the manager now',
    usage: '-m',
    translate: () => ['agent', 'heartbeat'],
  },
  '-r': {
    summary: 'reset the agent: clear its credentials, configuration and binding (never prompts)',
    usage: '-r',
    translate: () => ['agent', 'reset', '--yes'],
  },
}

export function dsaControlUsage(): string {
  const lines = Object.entries(DSA_CONTROL_OPTIONS).map(([flag, spec]) => `  ${flag}  ${spec.summary}\n      dsa_control ${spec.usage}`)
  return `usage: dsa_control OPTION [ARGS ...] [--json]\noptions:\n${lines.join('\n')}\nenvironment: TETHER_DSA_CORE selects the agent's dsa_core directory`
}

export function translateDsaControl(argv: string[]): string[] {
  const json = argv.includes('--json')
  const args = argv.filter((a) => a !== '--json')
  if (args.length === 0 || ['-h', '--help', '-?'].includes(args[0])) return ['__usage__']
  // Own keys only: "constructor" is not an option (found by fuzzing).
  const spec = Object.hasOwn(DSA_CONTROL_OPTIONS, args[0]) ? DSA_CONTROL_OPTIONS[args[0]] : undefined
  if (!spec) {
    throw new TetherError('usage', 'unknown-option', `dsa_control: unknown option "${args[0]}"`, {
      hint: `supported options: ${Object.keys(DSA_CONTROL_OPTIONS).join(' ')}`,
    })
  }

  const translated = spec.translate(args.slice(1))
  if (json) translated.push('--json')
  return translated
}
