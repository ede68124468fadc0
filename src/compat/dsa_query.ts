import {TetherError} from '../errors.js'

/**
 * `dsa_query -c|--cmd COMMAND [PATTERN]` (`-r|--raw` too) and `sendCommand --get NAME` /
 * `--cmd NAME`: read the local agent, translated to `tether agent query`.
 */

function usageError(tool: string, message: string): TetherError {
  return new TetherError('usage', 'classic-usage', `${tool}: ${message}`, {hint: `run \`${tool} -h\``})
}

interface Parsed {
  command?: string
  pattern?: string
  raw: boolean
  get: boolean
  dsaCore?: string
  json: boolean
  help: boolean
}

const OPTIONS: Record<string, {key: 'command' | 'password' | 'dsaCore'; raw?: boolean; get?: boolean}> = {
  '-c': {key: 'command'},
  '--cmd': {key: 'command'},
  '-r': {key: 'command', raw: true},
  '--raw': {key: 'command', raw: true},
  '--get': {key: 'command', get: true},
  '-p': {key: 'password'},
  '--passwd': {key: 'password'},
  '--dsa-core': {key: 'dsaCore'},
}

function parse(tool: string, argv: string[], allowed: string[]): Parsed {
  const parsed: Parsed = {raw: false, get: false, json: false, help: false}
  const positional: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--json') parsed.json = true
    else if (['-h', '--help', '-?'].includes(arg)) parsed.help = true
    else if (arg.startsWith('-') && arg !== '-') {
      const [name, attached] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
      const spec = allowed.includes(name) ? OPTIONS[name] : undefined
      if (!spec) throw usageError(tool, `unknown option "${arg}"`)
      const value = attached ?? argv[++i]
      if (value === undefined) throw usageError(tool, `${name} needs a value`)
      if (spec.key === 'command') {
        if (parsed.command !== undefined) throw usageError(tool, 'give one command')
        parsed.command = value
        parsed.raw = Boolean(spec.raw)
        parsed.get = Boolean(spec.get)
      } else if (spec.key === 'dsaCore') parsed.dsaCore = value
    } else positional.push(arg)
  }

  if (positional.length > 1) throw usageError(tool, `unexpected argument "${positional[1]}"`)
  parsed.pattern = positional[0]
  if (!parsed.help && parsed.command === undefined) throw usageError(tool, 'no command given')
  return parsed
}

function shared(parsed: Parsed): string[] {
  return [...(parsed.raw ? ['--raw'] : []), ...(parsed.dsaCore === undefined ? [] : ['--dsa-core', parsed.dsaCore]), ...(parsed.json ? ['--json'] : [])]
}

export function translateDsaQuery(argv: string[]): string[] {
  const parsed = parse('dsa_query', argv, ['-c', '--cmd', '-r', '--raw', '-p', '--passwd', '--dsa-core'])
  if (parsed.help) return ['__usage__']
  return ['agent', 'query', ...shared(parsed), '--', parsed.command!, ...(parsed.pattern === undefined ? [] : [parsed.pattern])]
}

export function translateSendCommand(argv: string[]): string[] {
  const parsed = parse('sendCommand', argv, ['--get', '--cmd', '--dsa-core'])
  if (parsed.help) return ['__usage__']
  const xml = parsed.get && parsed.command!.toLowerCase() === 'getconfiguration' ? ['--xml'] : []
  if (parsed.get && xml.length === 0) throw usageError('sendCommand', `--get supports GetConfiguration, not "${parsed.command}"`)
  return ['agent', 'query', ...xml, ...shared(parsed), '--', parsed.command!, ...(parsed.pattern === undefined ? [] : [parsed.pattern])]
}

export function dsaQueryUsage(): string {
  return [
    'usage: dsa_query [-c <str>] [-p <str>] [-r <str>] [PATTERN]',
    '  -c, --cmd=COMMAND     query the local agent: GetHostInfo, GetAgentStatus, GetComponentInfo, GetPluginVersion',
    '  -r, --raw=COMMAND     the same, printing field=value without the section',
    '  -p, --passwd=PASSWORD accepted for compatibility (queries are not guarded)',
    '  PATTERN               only fields whose name matches (case-insensitive, * a wildcard), e.g. agentCertHash, AM*',
    '  --dsa-core DIR        tether: the agent\'s dsa_core directory (else $TETHER_DSA_CORE)',
  ].join('\n')
}

export function sendCommandUsage(): string {
  return [
    'usage: sendCommand --get GetConfiguration | --cmd COMMAND [PATTERN]',
    '  --get GetConfiguration  the configuration in force, as XML after two header lines and a blank line',
    '  --cmd COMMAND           as dsa_query -c COMMAND',
    '  --dsa-core DIR          tether: the agent\'s dsa_core directory (else $TETHER_DSA_CORE)',
  ].join('\n')
}
