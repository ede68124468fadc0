import {TetherError} from '../errors.js'

/**
 * The classic `dsa_control` command line, parsed as the classic tool parses it: short options
 * (`-a URL`, `-aURL`), long ones (`--activate=URL`, `--activate URL`), in any order, mixed with
 * `keyword:value` words. One action per call; options that modify it (`-p`, `-t`, the retry
 * options) may come anywhere. Unknown options and stray arguments are usage errors that name the
 * classic options.
 */

export type DsaAction = 'activate' | 'heartbeat' | 'reset' | 'diag' | 'selfprotect' | 'proxy' | 'baseline' | 'scan' | 'bundle' | 'cert' | 'dsm' | 'restore'

interface OptionSpec {
  short?: string
  long: string
  /** What the value is, for the usage line; absent: a switch. */
  value?: string
  /** The action it is, or the modifier it sets. */
  action?: DsaAction
  modifier?: keyof DsaModifiers
  help: string
}

export interface DsaModifiers {
  password?: string
  serviceRetries?: string
  maxDsmRetries?: string
  dsmRetryInterval?: string
  dsaCore?: string
  /** -x, -u, -y, -w: the proxy settings of one `proxy` call. */
  dsmProxy?: string
  dsmProxyAuth?: string
  relayProxy?: string
  relayProxyAuth?: string
}

export const DSA_CONTROL_OPTIONS: OptionSpec[] = [
  {short: 'a', long: 'activate', value: 'dsm://HOST:PORT/', action: 'activate', help: 'activate the agent with the manager at that URL (keyword:value words follow)'},
  {short: 'b', long: 'bundle', action: 'bundle', help: 'create an update bundle (not supported by tether)'},
  {short: 'c', long: 'cert', value: 'FILE', action: 'cert', help: 'certificate file (not supported by tether)'},
  {short: 'd', long: 'diag', action: 'diag', help: 'write a diagnostic package into the diag directory beside dsa_core'},
  {short: 'g', long: 'dsm', value: 'URL', action: 'dsm', help: 'manager URL for commands that talk to the manager (not supported by tether: the agent uses the address it was activated with)'},
  {short: 'm', long: 'heartbeat', action: 'heartbeat', help: 'heartbeat now (keyword:value words change the computer)'},
  {short: 'p', long: 'passwd', value: 'PASSWORD', modifier: 'password', help: 'self-protection password (* prompts on a terminal)'},
  {short: 'r', long: 'reset', action: 'reset', help: 'reset the agent (keeps the proxy settings)'},
  {short: 'R', long: 'restore', value: 'FILE', action: 'restore', help: 'restore a quarantined file (not supported by tether: no anti-malware engine)'},
  {short: 's', long: 'selfprotect', value: '1|0', action: 'selfprotect', help: 'self-protection on (1) or off (0)'},
  {short: 't', long: 'retries', value: 'N', modifier: 'serviceRetries', help: 'retry reaching the local agent service N times, 1 s apart'},
  {short: 'u', long: 'dsmproxyauth', value: 'USER:PASSWORD', action: 'proxy', modifier: 'dsmProxyAuth', help: 'credentials for the proxy to the manager ("" clears)'},
  {short: 'w', long: 'relayproxyauth', value: 'USER:PASSWORD', action: 'proxy', modifier: 'relayProxyAuth', help: 'credentials for the proxy to relays (stored; tether has no relays)'},
  {short: 'x', long: 'dsmproxy', value: 'dsm_proxy://HOST:PORT/', action: 'proxy', modifier: 'dsmProxy', help: 'HTTP CONNECT proxy for every connection to the manager ("" removes)'},
  {short: 'y', long: 'relayproxy', value: 'relay_proxy://HOST:PORT/', action: 'proxy', modifier: 'relayProxy', help: 'proxy for relays (stored; tether has no relays)'},
  {long: 'buildBaseline', action: 'baseline', help: 'build the integrity baseline (tether has no integrity engine: recorded, exit 0)'},
  {long: 'scanForChanges', action: 'scan', help: 'integrity scan (tether has no integrity engine: recorded, exit 0)'},
  {long: 'max-dsm-retries', value: 'N', modifier: 'maxDsmRetries', help: 'with -a: times to retry a failure that may pass, 0-100 (default 30)'},
  {long: 'dsm-retry-interval', value: 'SECONDS', modifier: 'dsmRetryInterval', help: 'with -a: seconds between retries, 1-3600 (default 300)'},
  {long: 'dsa-core', value: 'DIR', modifier: 'dsaCore', help: "tether: the agent's dsa_core directory (else $TETHER_DSA_CORE)"},
]

export interface DsaCommandLine {
  action?: DsaAction
  /** The action option's value (-a URL, -s 1, -R FILE...). */
  value?: string
  words: string[]
  modifiers: DsaModifiers
  json: boolean
  help: boolean
}

function usageError(message: string, hint = 'run `dsa_control -h` for the options'): TetherError {
  return new TetherError('usage', 'classic-usage', `dsa_control: ${message}`, {hint})
}

function optionName(spec: OptionSpec): string {
  return spec.short ? `-${spec.short}` : `--${spec.long}`
}

function find(arg: string): {spec: OptionSpec; attached?: string} | undefined {
  if (arg.startsWith('--')) {
    const [name, ...rest] = arg.slice(2).split('=')
    const spec = DSA_CONTROL_OPTIONS.find((o) => o.long.toLowerCase() === name.toLowerCase())
    return spec && {spec, attached: rest.length > 0 ? rest.join('=') : undefined}
  }

  const spec = DSA_CONTROL_OPTIONS.find((o) => o.short === arg[1])
  if (!spec) return undefined
  if (arg.length === 2) return {spec}
  // `-aURL`: getopt's attached value; a switch cannot have one.
  return spec.value ? {spec, attached: arg.slice(2)} : undefined
}

export function parseDsaControl(argv: string[]): DsaCommandLine {
  const line: DsaCommandLine = {words: [], modifiers: {}, json: false, help: false}
  const actions: Array<{action: DsaAction; option: string}> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--json') {
      line.json = true
      continue
    }

    if (['-h', '--help', '-?'].includes(arg)) {
      line.help = true
      continue
    }

    if (!arg.startsWith('-') || arg === '-') {
      if (/^[^:\s]+:/.test(arg)) line.words.push(arg)
      else throw usageError(`unexpected argument "${arg}"`, 'arguments after the options are keyword:value words for -a and -m, e.g. "policyid:4"')
      continue
    }

    const found = find(arg)
    if (!found) throw usageError(`unknown option "${arg}"`)
    const {spec} = found
    // Errors name the option as the script wrote it (-r or --reset).
    const written = arg.startsWith('--') ? `--${spec.long}` : optionName(spec)
    let value: string | undefined
    if (spec.value) {
      value = found.attached ?? argv[++i]
      if (value === undefined) throw usageError(`${written} needs a value (${spec.value})`)
    } else if (found.attached !== undefined) {
      throw usageError(`${written} takes no value`)
    }

    if (spec.modifier) {
      if (line.modifiers[spec.modifier] !== undefined) throw usageError(`${written} is given twice`)
      line.modifiers[spec.modifier] = value
    }

    if (spec.action) {
      actions.push({action: spec.action, option: written})
      if (!spec.modifier) line.value = value
    }
  }

  const distinct = [...new Set(actions.map((a) => a.action))]
  if (distinct.length > 1) {
    const names = [...new Set(actions.map((a) => a.option))].join(' and ')
    throw usageError(`${names} are two actions; give one per call`, 'run dsa_control once for each, e.g. dsa_control -r, then dsa_control -a dsm://HOST:4120/')
  }

  line.action = distinct[0]
  if (line.help) return line
  if (!line.action) {
    throw usageError(argv.length === 0 ? 'no action given' : 'no action given (only modifiers)', 'give one action, e.g. dsa_control -a dsm://HOST:4120/, -m, -r; run dsa_control -h for all')
  }

  if (line.words.length > 0 && line.action !== 'activate' && line.action !== 'heartbeat') {
    throw usageError(`keyword:value words ("${line.words[0]}") go with -a or -m only`)
  }

  for (const [modifier, option] of [['maxDsmRetries', '--max-dsm-retries'], ['dsmRetryInterval', '--dsm-retry-interval']] as const) {
    if (line.modifiers[modifier] !== undefined && line.action !== 'activate') throw usageError(`${option} goes with -a only`)
  }

  return line
}

export function dsaControlUsage(): string {
  const synopsis = 'usage: dsa_control [-a <str>] [-b] [-c <str>] [-d] [-g <str>] [-s <num>] [-m] [-p <str>] [-r] [-R <str>] [-t <num>] [-u <str>:<str>] [-w <str>:<str>] [-x dsm_proxy://<str>] [-y relay_proxy://<str>] [--buildBaseline] [--scanForChanges] [--max-dsm-retries <num>] [--dsm-retry-interval <num>] [keyword:value ...]'
  const options = DSA_CONTROL_OPTIONS.map((o) => {
    const forms = [o.short ? `-${o.short}${o.value ? ` ${o.value}` : ''}` : undefined, `--${o.long}${o.value ? `=${o.value}` : ''}`].filter(Boolean).join(', ')
    return `  ${forms.padEnd(44)} ${o.help}`
  })
  return [
    synopsis,
    'options:',
    ...options,
    '  --json                                       print the result as one JSON document',
    'keyword:value words for -a and -m: hostname: displayname: description: group: groupid: policy: policyid: tenantID: token: (tenantPassword:) relaygroup: relaygroupid: relayid: externalid:',
    'environment: TETHER_DSA_CORE selects the agent\'s dsa_core directory',
  ].join('\n')
}
