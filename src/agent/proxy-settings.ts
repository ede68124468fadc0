import path from 'node:path'

import {ProxyTarget, parseProxyAuth, parseProxyUrl} from '../channel/proxy.js'
import {PRIVATE_FILE_MODE, readIfExists, removeFileDurable, writeFileAtomic} from '../platform/fsutil.js'
import type {DsaCore} from './store.js'

/**
 * The agent's proxy settings (dsa_control -x, -u, -y, -w), kept in dsa_core, owner-only, apart
 * from the activation files: a reset keeps them, as scripts set the proxy before or after it.
 * The relay proxy is stored and shown only: tether has no relays.
 */

export const PROXY_FILE = 'ds_agent.proxy.json'

interface Credentials {
  user: string
  password: string
}

export interface ProxySettings {
  dsmProxy?: string
  dsmProxyAuth?: Credentials
  relayProxy?: string
  relayProxyAuth?: Credentials
}

/** What is shown: addresses and user names, never a password. */
export interface ProxyView {
  managerProxy: string | null
  managerProxyUser: string | null
  relayProxy: string | null
  relayProxyUser: string | null
}

export interface ProxyChange {
  /** `""` removes; undefined leaves as is. */
  dsmProxy?: string
  dsmProxyAuth?: string
  relayProxy?: string
  relayProxyAuth?: string
}

function file(store: DsaCore): string {
  return path.join(store.dir, PROXY_FILE)
}

export function readProxySettings(store: DsaCore): ProxySettings {
  const text = readIfExists(file(store))?.toString('utf8')
  if (text === undefined) return {}
  try {
    return JSON.parse(text) as ProxySettings
  } catch {
    // Written atomically, so an unreadable file was damaged after the fact: no proxy, as if unset.
    return {}
  }
}

export function proxyView(settings: ProxySettings): ProxyView {
  return {
    managerProxy: settings.dsmProxy ?? null,
    managerProxyUser: settings.dsmProxyAuth?.user ?? null,
    relayProxy: settings.relayProxy ?? null,
    relayProxyUser: settings.relayProxyAuth?.user ?? null,
  }
}

/** Apply a change (each value checked first) under the dsa_core lock; returns the new settings. */
export function changeProxySettings(store: DsaCore, change: ProxyChange): ProxySettings {
  const next: Partial<Record<keyof ProxySettings, string | Credentials | undefined>> = {}
  if (change.dsmProxy !== undefined) next.dsmProxy = change.dsmProxy === '' ? undefined : parseProxyUrl(change.dsmProxy, 'dsm_proxy').url
  if (change.relayProxy !== undefined) next.relayProxy = change.relayProxy === '' ? undefined : parseProxyUrl(change.relayProxy, 'relay_proxy').url
  if (change.dsmProxyAuth !== undefined) next.dsmProxyAuth = change.dsmProxyAuth === '' ? undefined : parseProxyAuth(change.dsmProxyAuth)
  if (change.relayProxyAuth !== undefined) next.relayProxyAuth = change.relayProxyAuth === '' ? undefined : parseProxyAuth(change.relayProxyAuth)
  return store.locked(() => {
    const merged = {...readProxySettings(store), ...next} as Record<string, unknown>
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k]
    if (Object.keys(merged).length === 0) removeFileDurable(file(store))
    else writeFileAtomic(file(store), JSON.stringify(merged), PRIVATE_FILE_MODE)
    return merged as ProxySettings
  })
}

/** The proxy every connection to the manager goes through, if one is set. */
export function managerProxy(store: DsaCore): ProxyTarget | undefined {
  const settings = readProxySettings(store)
  if (!settings.dsmProxy) return undefined
  const {host, port} = parseProxyUrl(settings.dsmProxy, 'dsm_proxy')
  return {host, port, auth: settings.dsmProxyAuth}
}
