import fs from 'node:fs'
import os from 'node:os'

import {parseHostPort} from '../channel/address.js'
import {TetherError} from '../errors.js'
import {commonName, fingerprint, oneLineName, parseCertificate} from '../pki/certificate.js'
import {openAgentDatabase, readHandshakes} from './database.js'
import {readComputerIdentity} from './identity.js'
import {proxyView, readProxySettings} from './proxy-settings.js'
import {selfProtectionStatus} from './self-protection.js'
import type {DsaCore} from './store.js'

/**
 * What `dsa_query -c COMMAND [PATTERN]` and `sendCommand` read from the local agent: one
 * `Section.field: value` per line, as the classic tools print them. Read from dsa_core and the
 * agent's database directly (a local, read-only question; no daemon needed).
 */

export const QUERY_COMMANDS = ['GetHostInfo', 'GetAgentStatus', 'GetComponentInfo', 'GetPluginVersion'] as const
export type QueryCommand = (typeof QUERY_COMMANDS)[number]

export const AGENT_VERSION = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version: string}).version

export type Field = [name: string, value: string]

export function resolveQueryCommand(name: string): QueryCommand {
  const found = QUERY_COMMANDS.find((c) => c.toLowerCase() === name.toLowerCase())
  if (!found) throw new TetherError('usage', 'unknown-query', `unknown query command "${name}"`, {hint: `one of ${QUERY_COMMANDS.join(', ')}`})
  return found
}

/** `dsm://HOST:PORT/` as the classic agent shows its manager, IPv6 in brackets. */
function managerUrl(address: string, scheme: 'https' | 'dsm'): string {
  const {host, port} = parseHostPort(address, 4120)
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}/`
}

/**
 * green: activated and in contact (an accepted mutual-TLS session within two heartbeat
 * intervals); yellow: activated but not heard from in that time; red: not activated.
 */
async function agentState(store: DsaCore, activated: boolean, heartbeatSeconds: number, now: Date): Promise<{state: 'green' | 'yellow' | 'red'; lastContact?: string}> {
  if (!activated) return {state: 'red'}
  if (!store.exists()) return {state: 'red'}
  const db = await openAgentDatabase(store.dir)
  try {
    const recent = readHandshakes(db, {limit: 200}).filter((row) => row.context === 'mutual' && row.result === 'accepted').at(-1)
    if (!recent) return {state: 'yellow'}
    const fresh = now.getTime() - Date.parse(recent.at) <= 2 * heartbeatSeconds * 1000
    return {state: fresh ? 'green' : 'yellow', lastContact: recent.at}
  } finally {
    db.close()
  }
}

export async function queryFields(store: DsaCore, command: QueryCommand, now: Date = new Date()): Promise<Field[]> {
  switch (command) {
    case 'GetPluginVersion': {
      return [['PluginVersion.core', AGENT_VERSION]]
    }

    case 'GetComponentInfo': {
      return [
        ['ComponentInfo.core', AGENT_VERSION],
        ['ComponentInfo.AM', 'not installed (tether has no anti-malware engine)'],
        ['ComponentInfo.FW', 'not installed (tether has no firewall engine)'],
        ['ComponentInfo.DPI', 'not installed (tether has no intrusion prevention engine)'],
        ['ComponentInfo.IM', 'not installed (tether has no integrity monitoring engine)'],
        ['ComponentInfo.LI', 'not installed (tether has no log inspection engine)'],
      ]
    }

    case 'GetHostInfo': {
      return [
        ['HostInfo.hostname', process.env.TETHER_AGENT_HOSTNAME || os.hostname()],
        ['HostInfo.platform', process.platform],
        ['HostInfo.osRelease', os.release()],
        ['HostInfo.architecture', process.arch],
        ['HostInfo.agentVersion', AGENT_VERSION],
      ]
    }

    default: {
      return agentStatusFields(store, now)
    }
  }
}

async function agentStatusFields(store: DsaCore, now: Date): Promise<Field[]> {
  const status = store.status()
  const activated = status.state === 'activated'
  const communication = activated ? store.communication() : undefined
  const heartbeatSeconds = communication?.heartbeatSeconds ?? 600
  const {state, lastContact} = await agentState(store, activated, heartbeatSeconds, now)
  const managerPem = activated || status.state === 'pre-activated' ? store.read('dsmCert') : undefined
  const manager = managerPem ? parseCertificate(managerPem, 'ds_agent_dsm.crt') : undefined
  const agentPem = activated ? store.read('cert') : undefined
  const identity = activated ? readComputerIdentity(store) : undefined
  const proxy = proxyView(readProxySettings(store))
  const protection = selfProtectionStatus(store)
  const fields: Array<[string, string | undefined]> = [
    ['AgentStatus.agentState', state],
    ['AgentStatus.activation', status.state],
    ['AgentStatus.dsmUrl', activated && communication?.managerAddress ? managerUrl(communication.managerAddress, 'https') : undefined],
    ['AgentStatus.dsmDN', manager ? oneLineName(manager.subject) : undefined],
    ['AgentStatus.agentCertHash', status.certificateHash.sha1],
    ['AgentStatus.agentCertHashSha256', status.certificateHash.sha256],
    ['AgentStatus.dsmCertHash', manager ? fingerprint(manager, 'sha1') : undefined],
    ['AgentStatus.hostGUID', agentPem ? commonName(parseCertificate(agentPem, 'ds_agent.crt')) : undefined],
    ['AgentStatus.hostID', identity ? String(identity.hostId) : undefined],
    ['AgentStatus.tenantGUID', identity?.tenantId],
    ['AgentStatus.communicationMode', communication?.mode],
    ['AgentStatus.heartbeatInterval', communication ? String(communication.heartbeatSeconds) : undefined],
    ['AgentStatus.lastContact', lastContact],
    ['AgentStatus.securityProfile', status.configuration?.policy],
    ['AgentStatus.securityProfileVersion', status.configuration ? String(status.configuration.version) : undefined],
    ['AgentStatus.dsmProxy', proxy.managerProxy ?? undefined],
    ['AgentStatus.relayProxy', proxy.relayProxy ?? undefined],
    ['AgentStatus.selfProtection', protection.protecting ? 'on' : 'off'],
  ]
  return fields.filter((f): f is Field => f[1] !== undefined)
}

/**
 * `tether agent query COMMAND [PATTERN]` (dsa_query, sendCommand): GetConfiguration as the
 * classic XML (only with xml), any other command as its fields, filtered by PATTERN.
 */
export async function runQuery(store: DsaCore, name: string, pattern: string | undefined, options: {xml: boolean}): Promise<{command: 'GetConfiguration'; xml: string} | {command: QueryCommand; fields: Field[]}> {
  if (!store.exists()) {
    throw new TetherError('notFound', 'dsa-core-missing', `there is no agent at ${store.dir}`, {hint: "point --dsa-core / $TETHER_DSA_CORE at the agent's dsa_core directory"})
  }

  if (name.toLowerCase() === 'getconfiguration') {
    if (!options.xml) throw new TetherError('usage', 'needs-xml', 'GetConfiguration is read as XML', {hint: 'sendCommand --get GetConfiguration (tether agent query GetConfiguration --xml)'})
    return {command: 'GetConfiguration', xml: configurationXml(store)}
  }

  const command = resolveQueryCommand(name)
  return {command, fields: filterFields(await queryFields(store, command), pattern)}
}

/** PATTERN: a field name, case-insensitive, `*` a wildcard; matched against the name after the section. */
export function filterFields(fields: Field[], pattern: string | undefined): Field[] {
  if (pattern === undefined || pattern === '') return fields
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i')
  // `AgentStatus.dsm*` names the section too; `agentCertHash` and `AM*` name the field alone.
  return fields.filter(([name]) => regex.test(pattern.includes('.') ? name : name.slice(name.indexOf('.') + 1)))
}

/** sendCommand --get GetConfiguration: the configuration in force, as the classic XML. */
export function configurationXml(store: DsaCore): string {
  const status = store.status()
  const activated = status.state === 'activated'
  const identity = activated ? readComputerIdentity(store) : undefined
  const agentPem = activated ? store.read('cert') : undefined
  const communication = activated ? store.communication() : undefined
  const attributes: Array<[string, string | undefined]> = [
    ['hostID', identity ? String(identity.hostId) : ''],
    ['hostGUID', agentPem ? commonName(parseCertificate(agentPem, 'ds_agent.crt')) : ''],
    ['tenantGUID', identity?.tenantId ?? ''],
    ['dsmUrls', communication?.managerAddress ? managerUrl(communication.managerAddress, 'dsm') : ''],
  ]
  const config = status.configuration
  const profile = config
    ? `  <SecurityProfile id="${xml(identity?.policyName === config.policy && identity.policyId !== undefined ? String(identity.policyId) : '')}" name="${xml(config.policy)}" version="${config.version}" sha256="${xml(config.sha256)}"/>`
    : '  <SecurityProfile id="" name=""/>'
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<AgentConfiguration ${attributes.map(([k, v]) => `${k}="${xml(v ?? '')}"`).join(' ')}>`,
    profile,
    '</AgentConfiguration>',
  ].join('\n')
}

function xml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({'<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;'})[c]!)
}
