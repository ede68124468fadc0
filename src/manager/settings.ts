import {LISTENER_DEFAULTS, ListenerLimits, MAX_HANDSHAKE_TIMEOUT_SECONDS} from '../channel/limits.js'
import {TetherError} from '../errors.js'
import {formatDuration, parseDuration} from '../platform/duration.js'
import {findComputer} from './computers.js'
import type {CommunicationMode, ManagerStore} from './store/store.js'

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
  agentCertificateLifetime: string
  renewAfter: number
  expiredRenewalGrace: string
  listenerHandshakeTimeoutSeconds: number
  listenerIdleTimeoutSeconds: number
  listenerMaxConnectionsPerSource: number
  communicationMode: CommunicationMode
  loadBalancerHeartbeatHostname: string
  loadBalancerHeartbeatPort: number
  loadBalancerManagerHostname: string
  loadBalancerManagerPort: number
  loadBalancerRelayHostname: string
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

/** A duration as operators write it (kept as written, so it reads back the same). */
function duration(name: string, min: number, max: number) {
  return (text: string): string => {
    const ms = parseDuration(text, name)
    if (ms < min || ms > max) throw bad(name, text, `a duration from ${formatDuration(min) || '0s'} to ${formatDuration(max)}`)
    return text.trim()
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

/** A host name or address (IPv6 without brackets), or empty to clear. */
function hostname(name: string) {
  return (text: string): string => {
    const t = text.trim()
    if (t !== '' && !/^[\p{L}\p{N}.:_-]{1,253}$/u.test(t)) throw bad(name, text, 'a host name or IP address, or empty')
    return t
  }
}

/** A stored value with its classic key, the same encoding both ways. */
function plainClassic<T extends string | number>(key: string, values: string, parse: (text: string) => T) {
  return {key: `${CLASSIC_PREFIX}${key}`, values, parse, format: (value: T) => String(value)}
}

const AIA_CODES = {'0': 'off', '1': 'any', '2': 'known'} as const
const DUPLICATE_CODES = {'1': 'refuse', '2': 'new', '3': 'reactivate'} as const
const COMMUNICATION_CODES = {'1': 'agent-initiated', '2': 'manager-initiated', '3': 'bidirectional'} as const
const MODES = ['bidirectional', 'manager-initiated', 'agent-initiated'] as const

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
  agentCertificateLifetime: {
    summary: 'how long the agent certificates this manager issues are valid (397d; as short as 5m for short-lived deployments and drills); they are renewed before they expire (renewAfter)',
    values: 'a duration: 5m to 3650d (90s, 15m, 12h, 397d)',
    default: '397d',
    parse: duration('agentCertificateLifetime', 5 * 60_000, 3650 * 86_400_000),
  },
  renewAfter: {
    summary: 'the fraction of its lifetime after which an agent certificate is renewed, at the next contact in either direction',
    values: 'a number from 0.1 to 0.95',
    default: 2 / 3,
    parse(text) {
      const n = Number(text.trim())
      if (!Number.isFinite(n) || n < 0.1 || n > 0.95) throw bad('renewAfter', text, 'a number from 0.1 to 0.95')
      return n
    },
  },
  expiredRenewalGrace: {
    summary: 'how long after its certificate expired an agent (offline meanwhile) may still renew it by proving its key; after that it needs reactivation',
    values: 'a duration: 0s (none) to 3650d',
    default: '90d',
    parse: duration('expiredRenewalGrace', 0, 3650 * 86_400_000),
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
  communicationMode: {
    summary: 'the communication mode new computers get at activation (per computer afterwards: tether manager computers set)',
    values: MODES.join(' | '),
    default: 'bidirectional',
    parse: oneOf('communicationMode', MODES),
    classic: {key: `${CLASSIC_PREFIX}agentCommunications`, values: '1 (agent-initiated), 2 (manager-initiated), 3 (bidirectional)', ...coded('agentCommunications', COMMUNICATION_CODES)},
  },
  loadBalancerHeartbeatHostname: {
    summary: 'the name agents are told to send heartbeats to, in front of one or several manager nodes (wins over heartbeatAddress); empty: none',
    values: 'host name or address, or empty',
    default: '',
    parse: hostname('loadBalancerHeartbeatHostname'),
    classic: plainClassic('systemLoadBalancerHeartbeatHostname', 'host name or address', hostname('systemLoadBalancerHeartbeatHostname')),
  },
  loadBalancerHeartbeatPort: {
    summary: 'the port agents are told with loadBalancerHeartbeatHostname; 0: the port the manager listens on',
    values: 'port, 0 to 65535',
    default: 0,
    parse: integer('loadBalancerHeartbeatPort', 0, 65_535),
    classic: plainClassic('systemLoadBalancerHeartbeatPort', 'port', integer('systemLoadBalancerHeartbeatPort', 0, 65_535)),
  },
  loadBalancerManagerHostname: {
    summary: 'the console name behind a load balancer: stored and shown (tether has no web console)',
    values: 'host name or address, or empty',
    default: '',
    parse: hostname('loadBalancerManagerHostname'),
    classic: plainClassic('systemLoadBalancerManagerHostname', 'host name or address', hostname('systemLoadBalancerManagerHostname')),
  },
  loadBalancerManagerPort: {
    summary: 'the console port behind a load balancer: stored and shown (tether has no web console)',
    values: 'port, 0 to 65535',
    default: 0,
    parse: integer('loadBalancerManagerPort', 0, 65_535),
    classic: plainClassic('systemLoadBalancerManagerPort', 'port', integer('systemLoadBalancerManagerPort', 0, 65_535)),
  },
  loadBalancerRelayHostname: {
    summary: 'the relay name behind a load balancer: stored and shown (tether has no relays)',
    values: 'host name or address, or empty',
    default: '',
    parse: hostname('loadBalancerRelayHostname'),
    classic: plainClassic('systemLoadBalancerRelayHostname', 'host name or address', hostname('systemLoadBalancerRelayHostname')),
  },
  nodeLeaseSeconds: {
    summary: 'how long a node\'s claim on a computer\'s queued operations, or on polling it, lasts: a node that dies mid-contact holds them no longer than this, then another node delivers them',
    values: 'whole seconds, 1 to 3600',
    default: 60,
    parse: integer('nodeLeaseSeconds', 1, 3600),
  },
}

/**
 * Classic keys for parts tether does not have. Provisioning scripts set them and stop under
 * `set -e` if refused, so they are accepted and stored, with a note that they change nothing.
 */
interface StoredOnlyKey {
  /** The classic key, or a prefix ending in a dot. */
  key: string
  note: string
  /** Set per computer (`dsm_c -computername NAME`). */
  perComputer?: boolean
}

export const STORED_ONLY_KEYS: StoredOnlyKey[] = [
  {key: `${CLASSIC_PREFIX}statusMonitoringAPIEnabled`, note: 'tether has no status monitoring API'},
  {key: `${CLASSIC_PREFIX}webserviceAPIEnabled`, note: 'tether has no web service API'},
  {key: `${CLASSIC_PREFIX}dsruAutoApplyNewDSRUs`, note: 'tether has no rule updates (DSRUs)'},
  {key: 'settings.security.', note: 'tether has no console sign-in or account security settings'},
  {key: `${CLASSIC_PREFIX}relayState`, note: 'tether has no relays', perComputer: true},
]

const STORED_PREFIX = 'classic:'

function storedOnlyKey(name: string): {key: string; spec: StoredOnlyKey} | undefined {
  const lower = name.trim().toLowerCase()
  for (const spec of STORED_ONLY_KEYS) {
    const key = spec.key.toLowerCase()
    if (key.endsWith('.') ? lower.startsWith(key) && lower.length > key.length : lower === key || `${CLASSIC_PREFIX}${lower}` === key) {
      return {key: key.endsWith('.') ? name.trim() : spec.key, spec}
    }
  }

  return undefined
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
  name: SettingName | string
  value: Settings[SettingName]
  isDefault: boolean
  classicKey?: string
  classicValue?: string
  values: string
  summary: string
  /** A classic key tether stores but does not act on: why. */
  noEffect?: string
  /** Set for this computer only (`dsm_c -computername`). */
  computer?: string
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
  const stores = [...stored.keys()].filter((k) => k.startsWith(STORED_PREFIX)).sort().map((k) => storedOnlyView(k, stored.get(k)))
  return [...SETTING_NAMES.map((name) => view(name, settings, stored, options.reveal ?? false)), ...stores]
}

function storedOnlyView(storedName: string, raw: string | undefined): SettingView {
  const [, scope, ...rest] = storedName.split(':')
  const computer = scope === 'computer' ? rest.shift() : undefined
  const key = computer === undefined ? [scope, ...rest].join(':') : rest.join(':')
  const value = raw === undefined ? '' : (JSON.parse(raw) as string)
  return {name: key, value, isDefault: raw === undefined, classicKey: key, classicValue: value, values: 'any (stored, no effect)', summary: storedOnlyKey(key)?.spec.note ?? 'stored', noEffect: storedOnlyKey(key)?.spec.note ?? 'stored', ...(computer ? {computer} : {})}
}

/** Where a stored-only key lives: per computer (by GUID) or for the whole manager. */
async function storedOnlyName(store: ManagerStore, name: string, computerRef: string | undefined): Promise<{storedName: string; key: string; computer?: string}> {
  const found = storedOnlyKey(name)!
  if (found.spec.perComputer && computerRef === undefined) {
    throw new TetherError('usage', 'setting-needs-computer', `${found.key} is set per computer`, {hint: 'name the computer: dsm_c -action changesetting -computername NAME -name KEY -value VALUE'})
  }

  if (!found.spec.perComputer && computerRef !== undefined) throw notPerComputer(found.key)
  if (computerRef === undefined) return {storedName: `${STORED_PREFIX}${found.key}`, key: found.key}
  const computer = await findComputer(store, computerRef)
  return {storedName: `${STORED_PREFIX}computer:${computer.guid}:${found.key}`, key: found.key, computer: computer.guid}
}

function notPerComputer(name: string): TetherError {
  return new TetherError('usage', 'setting-not-per-computer', `${name} is a manager-wide setting, not one per computer`, {hint: 'leave out -computername'})
}

export async function describeSetting(store: ManagerStore, name: string, options: {reveal?: boolean; computer?: string} = {}): Promise<SettingView> {
  if (storedOnlyKey(name)) {
    const {storedName} = await storedOnlyName(store, name, options.computer)
    return storedOnlyView(storedName, (await store.settings.all()).get(storedName))
  }

  const resolved = resolveSettingName(name)
  if (options.computer !== undefined) throw notPerComputer(name)
  return (await describeSettings(store, options)).find((s) => s.name === resolved.name)!
}

/** Parse (in the encoding of the name used: classic keys take classic values) and store. */
export async function setSetting(store: ManagerStore, name: string, text: string, now: Date = new Date(), options: {computer?: string} = {}): Promise<SettingView> {
  if (storedOnlyKey(name)) {
    const {storedName} = await storedOnlyName(store, name, options.computer)
    await store.settings.set(storedName, JSON.stringify(text), now)
    return storedOnlyView(storedName, JSON.stringify(text))
  }

  if (options.computer !== undefined) throw notPerComputer(name)
  const resolved = resolveSettingName(name)
  const def = SETTINGS[resolved.name] as Definition<SettingName>
  const value = resolved.classic && def.classic ? def.classic.parse(text) : def.parse(text)
  checkRenewalWindow({...(await getSettings(store)), [resolved.name]: value})
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
/**
 * An agent renews at its next contact past the renewal point, so the time left then must cover
 * two heartbeats (one may be missed); a lifetime or interval that leaves less is refused.
 */
function checkRenewalWindow(settings: Settings): void {
  const lifetime = parseDuration(settings.agentCertificateLifetime, 'agentCertificateLifetime')
  const window = lifetime * (1 - settings.renewAfter)
  const needed = 2 * settings.heartbeatIntervalSeconds * 1000
  if (window < needed) {
    throw new TetherError('usage', 'renewal-window-too-short', `a ${settings.agentCertificateLifetime} certificate renewed after ${Math.round(settings.renewAfter * 100)}% of it leaves ${formatDuration(Math.floor(window))} before expiry, less than two heartbeat intervals (${formatDuration(needed)})`, {
      hint: 'lengthen agentCertificateLifetime, lower renewAfter, or shorten heartbeatIntervalSeconds',
    })
  }
}
