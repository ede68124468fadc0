import {TetherError} from '../errors.js'
import {DsaCommandLine, parseDsaControl} from './dsa-control-args.js'

export {dsaControlUsage} from './dsa-control-args.js'

/**
 * `dsa_control`: the agent's classic control tool, translated to one `tether agent ...` command,
 * so each action has one implementation. The parser (dsa-control-args.ts) has already refused
 * unknown options, stray arguments and two actions in one call.
 */

const NOT_SUPPORTED: Record<string, string> = {
  bundle: '-b (update bundles): tether has no update bundles',
  cert: '-c (certificate file): tether takes the manager certificate with `tether agent bind ds_agent_dsm.crt`',
  dsm: '-g (manager URL): the agent sends heartbeats to the address it was activated with, which the manager may change',
  restore: '-R (restore a quarantined file): tether has no anti-malware engine and quarantines nothing',
}

function option(flag: string, value: string | undefined): string[] {
  return value === undefined ? [] : [flag, value]
}

function translateLine(line: DsaCommandLine): string[] {
  const m = line.modifiers
  const password = option('--password', m.password)
  const retries = option('--service-retries', m.serviceRetries)
  switch (line.action) {
    case 'activate': {
      // Flags first, then `--`: a word such as "displayname:web 01" must never be read as a command name.
      return ['agent', 'activate', ...option('--max-dsm-retries', m.maxDsmRetries), ...option('--dsm-retry-interval', m.dsmRetryInterval), ...retries, '--', line.value!, ...line.words]
    }

    case 'heartbeat': {
      return ['agent', 'heartbeat', ...password, ...retries, '--', ...line.words]
    }

    case 'baseline':
    case 'scan': {
      return ['agent', 'heartbeat', '--no-contact', '--', line.action === 'baseline' ? 'RebuildBaseline:true' : 'IntegrityScan:true']
    }

    case 'reset': {
      return ['agent', 'reset', '--yes', ...password]
    }

    case 'diag': {
      return ['agent', 'diag', ...password]
    }

    case 'selfprotect': {
      return ['agent', 'self-protect', line.value!, ...password]
    }

    case 'proxy': {
      return ['agent', 'proxy', ...option('--manager', m.dsmProxy), ...option('--manager-auth', m.dsmProxyAuth), ...option('--relay', m.relayProxy), ...option('--relay-auth', m.relayProxyAuth), ...password]
    }

    default: {
      throw new TetherError('usage', 'not-supported-by-tether', `dsa_control ${NOT_SUPPORTED[line.action!]}; not supported by tether`, {
        hint: 'see the classic-syntax section of the README for what tether supports',
      })
    }
  }
}

export function translateDsaControl(argv: string[]): string[] {
  const line = parseDsaControl(argv)
  if (line.help) return ['__usage__']
  const args = translateLine(line)
  const shared = [...(line.modifiers.dsaCore === undefined ? [] : ['--dsa-core', line.modifiers.dsaCore]), ...(line.json ? ['--json'] : [])]
  const end = args.indexOf('--')
  return end < 0 ? [...args, ...shared] : [...args.slice(0, end), ...shared, ...args.slice(end)]
}
