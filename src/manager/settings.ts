import {LISTENER_DEFAULTS, ListenerLimits, MAX_HANDSHAKE_TIMEOUT_SECONDS} from '../channel/limits.js'
import {TetherError} from '../errors.js'
import type {ManagerStore} from './store/store.js'

/**
 * Manager settings: typed, validated, stored in the registry. Each has a tether name and may have
 * the classic key real provisioning scripts pass to `dsm_c -action changesetting`, with the classic
 * value encoding translated both ways.
 */

export type AgentInitiatedActivation = 'off' | 'any' | 'known'
export type DuplicateNamePolicy = 'refuse' | 'new' | 'reactivate'

export interface Settings {
  agentInitiatedActivation: AgentInitiatedActivation
  activationToken: string
  allowAgentHostname: boolean
  duplicateNamePolicy: DuplicateNamePolicy
  allowReactivateCloned: boolean
  allowReactivateUnknown: boolean
  heartbeatIntervalSeconds: number
  missedHeartbeats: number
  maxClockSkewSeconds: number
  heartbeatAddress: string
  activationFailureLimit: number
  activationFailureLimitTotal: number
  listenerHandshakeTimeoutSeconds: number
  listenerIdleTimeoutSeconds: number
  listenerMaxConnectionsPerSource: number
  loadBalancerHeartbeatHostname: string
  loadBalancerHeartbeatPort: number
  nodeLeaseSeconds: number
}

export type SettingName = keyof Settings

interface Definition<K extends SettingName> {
  summary: string
  values: string
  default: Settings[K]
  parse(text: string): Settings[K]
  secret?: boolean
  /** The classic DSM key, with its own value encoding. */
  classic?: {key: string; values: string; parse(text: string): Settings[K]; format(value: Settings[K]): string}
}

function bad(name: string, text: string, expected: string): TetherError {
  return new TetherError('usage', 'bad-setting-value', `"${text}" is not a valid value for ${name}`, {hint: `expected ${expected}`})
}

function boolean(name: string) {
  return (text: string): boolean => {
    const t = text.trim().toLowerCase()
    if (['true', '1', 'yes', 'on'].includes(t)) return true
    if (['false', '0', 'no', 'off'].includes(t)) return false
    throw bad(name, text, 'true or false')
  }
}

function integer(name: string, min: number, max: number) {
  return (text: string): number => {
    const n = Number(text.trim())
    if (!Number.isInteger(n) || n < min || n > max) throw bad(name, text, `a whole number from ${min} to ${max}`)
    return n
  }
}

function oneOf<T extends string>(name: string, options: readonly T[]) {
  return (text: string): T => {
    const t = text.trim().toLowerCase() as T
    if (!options.includes(t)) throw bad(name, text, `one of ${options.join(', ')}`)
    return t
  }
}

/** A classic numeric code <-> tether word mapping (e.g. 0/1/2 for off/any/known). */
function coded<T extends string>(name: string, codes: Record<string, T>) {
  return {
    parse(text: string): T {
      const value = codes[text.trim()]
      if (value === undefined) throw bad(name, text, Object.entries(codes).map(([c, v]) => `${c} (${v})`).join(', '))
      return value
    },
    format(value: T): string {
      return Object.entries(codes).find(([, v]) => v === value)?.[0] ?? String(value)
    },
  }
}

const CLASSIC_PREFIX = 'settings.configuration.'

const AIA_CODES = {'0': 'off', '1': 'any', '2': 'known'} as const
const DUPLICATE_CODES = {'1': 'refuse', '2': 'new', '3': 'reactivate'} as const

export const SETTINGS: {[K in SettingName]: Definition<K>} = {
  agentInitiatedActivation: {
    summary: 'whether agents may activate themselves (dsa_control -a): off, any computer, or only computers already in the registry',
    values: 'off | any | known',
    default: 'off',
    parse: oneOf('agentInitiatedActivation', ['off', 'any', 'known'] as const),
    classic: {key: `${CLASSIC_PREFIX}agentInitiatedActivation`, values: '0 (off), 1 (any computer), 2 (known computers only)', ...coded('agentInitiatedActivation', AIA_CODES)},
  },
  activationToken: {
    summary: 'a shared secret agents must pass as token:SECRET to activate themselves; empty: none required',
    values: 'any string (empty to clear)',
    default: '',
    secret: true,
    parse: (text) => text,
    classic: {key: `${CLASSIC_PREFIX}agentInitiatedActivationToken`, values: 'any string', parse: (text) => text, format: (value) => value},
  },
  allowAgentHostname: {
    summary: 'whether an agent may supply its own hostname (hostname:NAME) when it activates itself',
    values: 'true | false',
    default: true,
    parse: boolean('allowAgentHostname'),
    classic: {key: `${CLASSIC_PREFIX}agentInitiatedActivationHostname`, values: 'true | false', parse: boolean('agentInitiatedActivationHostname'), format: String},
  },
  duplicateNamePolicy: {
    summary: 'when a computer with the same name exists and the agent cannot prove it is that computer: refuse, activate a new computer, or reactivate the existing one by name alone (accepts the takeover risk: any host naming itself so takes over the computer)',
    values: 'refuse | new | reactivate',
    default: 'new',
    parse: oneOf('duplicateNamePolicy', ['refuse', 'new', 'reactivate'] as const),
    classic: {key: `${CLASSIC_PREFIX}agentInitiatedActivationActiveHost`, values: '1 (refuse), 2 (activate a new computer), 3 (reactivate the existing one)', ...coded('agentInitiatedActivationActiveHost', DUPLICATE_CODES)},
  },
  allowReactivateCloned: {
    summary: 'whether a cloned agent (the same certificate seen from two hosts) may reactivate',
    values: 'true | false',
    default: false,
    parse: boolean('allowReactivateCloned'),
    classic: {key: `${CLASSIC_PREFIX}allowReactivateClonedVM`, values: 'true | false', parse: boolean('allowReactivateClonedVM'), format: String},
  },
  allowReactivateUnknown: {
    summary: 'whether an agent this manager has no record of may reactivate',
    values: 'true | false',
    default: false,
    parse: boolean('allowReactivateUnknown'),
    classic: {key: `${CLASSIC_PREFIX}allowReactivateUnknownVM`, values: 'true | false', parse: boolean('allowReactivateUnknownVM'), format: String},
  },
  heartbeatIntervalSeconds: {
    summary: 'default seconds between agent heartbeats (per-computer override: tether manager computers set)',
    values: 'whole seconds, 1 to 86400',
    default: 600,
    parse: integer('heartbeatIntervalSeconds', 1, 86_400),
    classic: {
      key: `${CLASSIC_PREFIX}defaultHeartbeatPeriod`,
      values: 'whole minutes, 1 to 1440',
      parse: (text) => integer('defaultHeartbeatPeriod', 1, 1440)(text) * 60,
      format: (value) => String(Math.round(value / 60)),
    },
  },
  missedHeartbeats: {
    summary: 'heartbeats a computer may miss before it is shown offline',
    values: 'whole number, 1 to 100',
    default: 2,
    parse: integer('missedHeartbeats', 1, 100),
    classic: {key: `${CLASSIC_PREFIX}numberOfMissedHeartbeatsBeforeOffline`, values: 'whole number, 1 to 100', parse: integer('numberOfMissedHeartbeatsBeforeOffline', 1, 100), format: String},
  },
  maxClockSkewSeconds: {
    summary: "largest difference allowed between an agent's clock and the manager's at activation",
    values: 'whole seconds, 1 to 31536000',
    default: 86_400,
    parse: integer('maxClockSkewSeconds', 1, 31_536_000),
  },
  activationFailureLimit: {
    summary: 'failed agent-initiated activation attempts (wrong token or tenant) allowed per source address per minute on this manager node; past it the source is refused (HTTP 429) until the minute has passed',
    values: 'whole number, 1 to 100000',
    default: 10,
    parse: integer('activationFailureLimit', 1, 100_000),
  },
  activationFailureLimitTotal: {
    summary: 'failed agent-initiated activation attempts allowed per minute on this manager node, all sources together',
    values: 'whole number, 1 to 1000000',
    default: 100,
    parse: integer('activationFailureLimitTotal', 1, 1_000_000),
  },
  heartbeatAddress: {
    summary: 'HOST:PORT agents are told to send heartbeats to (set by `tether manager start` when empty)',
    values: 'HOST:PORT, or empty',
    default: '',
    parse(text) {
      if (text !== '' && !/^[^\s:]+:\d{1,5}$/.test(text.trim())) throw bad('heartbeatAddress', text, 'HOST:PORT')
      return text.trim()
    },
  },
  listenerHandshakeTimeoutSeconds: {
    summary: 'seconds a connection to the heartbeat port may take to finish its TLS handshake before it is closed (read at manager start)',
    values: `whole seconds, 1 to ${MAX_HANDSHAKE_TIMEOUT_SECONDS}`,
    default: LISTENER_DEFAULTS.manager.handshakeTimeoutMs / 1000,
    parse: integer('listenerHandshakeTimeoutSeconds', 1, MAX_HANDSHAKE_TIMEOUT_SECONDS),
  },
  listenerIdleTimeoutSeconds: {
    summary: 'seconds a connection to the heartbeat port may stay silent before it is closed (read at manager start)',
    values: 'whole seconds, 1 to 86400',
    default: LISTENER_DEFAULTS.manager.idleTimeoutMs / 1000,
    parse: integer('listenerIdleTimeoutSeconds', 1, 86_400),
  },
  listenerMaxConnectionsPerSource: {
    summary: 'concurrent connections one address may hold on the heartbeat port; more are refused at once (sites behind one NAT share an address; read at manager start)',
    values: 'whole number, 1 to 100000',
    default: LISTENER_DEFAULTS.manager.maxConnectionsPerSource,
    parse: integer('listenerMaxConnectionsPerSource', 1, 100_000),
  },
  loadBalancerHeartbeatHostname: {
    summary: 'a load balancer in front of the managers\' heartbeat ports: agents are told only this name (with loadBalancerHeartbeatPort) instead of every node\'s address; empty: none',
    values: 'a DNS name or IP address, or empty',
    default: '',
    parse(text) {
      const name = text.trim()
      if (name !== '' && !/^[A-Za-z0-9.:[\]_-]{1,253}$/.test(name)) throw bad('loadBalancerHeartbeatHostname', text, 'a DNS name or IP address (no port: that is loadBalancerHeartbeatPort)')
      return name
    },
    classic: {key: `${CLASSIC_PREFIX}systemLoadBalancerHeartbeatHostname`, values: 'a DNS name or IP address, or empty', parse: (text) => text.trim(), format: (value) => value},
  },
  loadBalancerHeartbeatPort: {
    summary: 'the load balancer\'s heartbeat port (with loadBalancerHeartbeatHostname)',
    values: 'a port, 1 to 65535',
    default: 4120,
    parse: integer('loadBalancerHeartbeatPort', 1, 65_535),
    classic: {key: `${CLASSIC_PREFIX}systemLoadBalancerHeartbeatPort`, values: 'a port, 1 to 65535', parse: integer('systemLoadBalancerHeartbeatPort', 1, 65_535), format: String},
  },
  nodeLeaseSeconds: {
    summary: 'how long a node\'s claim on a computer\'s queued operations, or on polling it, lasts: a node that dies mid-contact holds them no longer than this, then another node delivers them',
    values: 'whole seconds, 1 to 3600',
    default: 60,
    parse: integer('nodeLeaseSeconds', 1, 3600),
  },
}

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[]

/** Resolve a tether name or a classic key (case-insensitively) to a setting. */
export function resolveSettingName(name: string): {name: SettingName; classic: boolean} {
  const lower = name.trim().toLowerCase()
  for (const key of SETTING_NAMES) {
    if (key.toLowerCase() === lower) return {name: key, classic: false}
    const classic = SETTINGS[key].classic?.key.toLowerCase()
    if (classic === lower || classic === `${CLASSIC_PREFIX}${lower}`) return {name: key, classic: true}
  }

  throw new TetherError('usage', 'unknown-setting', `unknown setting "${name}"`, {
    hint: `known settings: ${SETTING_NAMES.join(', ')} (classic keys: ${SETTING_NAMES.map((n) => SETTINGS[n].classic?.key).filter(Boolean).join(', ')})`,
  })
}

/** Stored values over defaults. */
function settingsFrom(stored: Map<string, string>): Settings {
  const out = {} as Record<SettingName, unknown>
  for (const name of SETTING_NAMES) {
    const raw = stored.get(name)
    out[name] = raw === undefined ? SETTINGS[name].default : (JSON.parse(raw) as unknown)
  }

  return out as unknown as Settings
}

export async function getSettings(store: ManagerStore): Promise<Settings> {
  return settingsFrom(await store.settings.all())
}

export interface SettingView {
  name: SettingName
  value: Settings[SettingName]
  isDefault: boolean
  classicKey?: string
  classicValue?: string
  values: string
  summary: string
}

function view(name: SettingName, settings: Settings, stored: Map<string, string>, reveal: boolean): SettingView {
  const def = SETTINGS[name] as Definition<SettingName>
  const raw = settings[name]
  const hidden = def.secret && !reveal && raw !== ''
  return {
    name,
    value: hidden ? '(set)' : raw,
    isDefault: !stored.has(name),
    classicKey: def.classic?.key,
    classicValue: def.classic && !hidden ? def.classic.format(raw as never) : undefined,
    values: def.values,
    summary: def.summary,
  }
}

export async function describeSettings(store: ManagerStore, options: {reveal?: boolean} = {}): Promise<SettingView[]> {
  const stored = await store.settings.all()
  const settings = settingsFrom(stored)
  return SETTING_NAMES.map((name) => view(name, settings, stored, options.reveal ?? false))
}

export async function describeSetting(store: ManagerStore, name: string, options: {reveal?: boolean} = {}): Promise<SettingView> {
  const resolved = resolveSettingName(name)
  return (await describeSettings(store, options)).find((s) => s.name === resolved.name)!
}

/** Parse (in the encoding of the name used: classic keys take classic values) and store. */
export async function setSetting(store: ManagerStore, name: string, text: string, now: Date = new Date()): Promise<SettingView> {
  const resolved = resolveSettingName(name)
  const def = SETTINGS[resolved.name] as Definition<SettingName>
  const value = resolved.classic && def.classic ? def.classic.parse(text) : def.parse(text)
  await store.settings.set(resolved.name, JSON.stringify(value), now)
  return describeSetting(store, resolved.name)
}

/** The heartbeat port's limits, from the settings. */
export function listenerLimits(settings: Settings): ListenerLimits {
  return {
    handshakeTimeoutMs: settings.listenerHandshakeTimeoutSeconds * 1000,
    idleTimeoutMs: settings.listenerIdleTimeoutSeconds * 1000,
    maxConnectionsPerSource: settings.listenerMaxConnectionsPerSource,
  }
}

/** Where agents are told to send heartbeats: the setting, else where `manager start` last listened. */
export async function advertisedHeartbeatAddress(store: ManagerStore): Promise<string | undefined> {
  return (await getSettings(store)).heartbeatAddress || (await store.meta.get('listening_address')) || undefined
}
