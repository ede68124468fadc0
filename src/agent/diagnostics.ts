import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {TetherError} from '../errors.js'
import {PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, readIfExists, writeFileAtomic} from '../platform/fsutil.js'
import {ZipEntry, buildZip} from '../platform/zip.js'
import {listEvents, openAgentDatabase, readHandshakes} from './database.js'
import {proxyView, readProxySettings} from './proxy-settings.js'
import {AGENT_VERSION, queryFields} from './query.js'
import {selfProtectionStatus} from './self-protection.js'
import {DSA_FILES, DsaCore} from './store.js'

/**
 * `dsa_control -d`: a diagnostic package (zip) in the `diag` directory beside dsa_core
 * (/var/opt/ds_agent/diag on Linux): status, settings, recent journal and events, the public
 * certificates, versions and the daemon's recent log lines. Never a private key, a token or a
 * proxy password: the entries are built from public parts only, and checked before writing.
 */

/** The daemon's own log file in dsa_core, capped (platform/log.ts fileSink). */
export const AGENT_LOG_FILE = 'ds_agent.log'
export const AGENT_LOG_MAX_BYTES = 1024 * 1024

const PUBLIC_CERTIFICATES = ['cert', 'dsmCert', 'dsmCaCert'] as const

export function diagDirectory(dsaCore: string): string {
  return path.join(path.dirname(dsaCore), 'diag')
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`
}

function stamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-')
}

async function databaseEntries(store: DsaCore): Promise<ZipEntry[]> {
  if (!fs.existsSync(path.join(store.dir, 'ds_agent.db'))) return []
  const db = await openAgentDatabase(store.dir)
  try {
    return [
      {name: 'journal.jsonl', data: readHandshakes(db, {limit: 500}).map((row) => JSON.stringify(row)).join('\n')},
      {name: 'events.json', data: json(listEvents(db, 0, 1000))},
    ]
  } finally {
    db.close()
  }
}

function logEntries(store: DsaCore): ZipEntry[] {
  return [`${AGENT_LOG_FILE}.1`, AGENT_LOG_FILE].flatMap((name) => {
    const text = readIfExists(path.join(store.dir, name))?.toString('utf8')
    return text === undefined ? [] : [{name: `log/${name}`, data: text}]
  })
}

/** What a package must never hold: key material and the proxy passwords of this agent. */
function forbidden(store: DsaCore): string[] {
  const proxy = readProxySettings(store)
  return ['PRIVATE KEY', proxy.dsmProxyAuth?.password, proxy.relayProxyAuth?.password].filter((s): s is string => Boolean(s) && s!.length >= 3)
}

export async function writeDiagnosticPackage(store: DsaCore, now: Date = new Date()): Promise<{dir: string; file: string; entries: string[]}> {
  if (!store.exists()) throw new TetherError('notFound', 'dsa-core-missing', `there is no agent at ${store.dir}`, {hint: "point --dsa-core / $TETHER_DSA_CORE at the agent's dsa_core directory"})
  const status = store.status()
  const fields = [...(await queryFields(store, 'GetAgentStatus', now)), ...(await queryFields(store, 'GetHostInfo', now)), ...(await queryFields(store, 'GetComponentInfo', now))]
  const entries: ZipEntry[] = [
    {name: 'status.json', data: json(status)},
    {name: 'query.txt', data: `${fields.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`},
    {
      name: 'settings.json',
      data: json({communication: store.communication() ?? null, proxy: proxyView(readProxySettings(store)), selfProtection: selfProtectionStatus(store), configuration: store.appliedConfiguration() ?? null}),
    },
    {name: 'versions.txt', data: `tether ${AGENT_VERSION}\nnode ${process.version}\nos ${process.platform} ${os.release()} ${process.arch}\n`},
    ...PUBLIC_CERTIFICATES.flatMap((name) => {
      const pem = store.read(name)
      return pem === undefined ? [] : [{name: `certificates/${DSA_FILES[name]}`, data: pem}]
    }),
    ...(await databaseEntries(store)),
    ...logEntries(store),
  ]
  const secrets = forbidden(store)
  for (const entry of entries) {
    const text = Buffer.isBuffer(entry.data) ? entry.data.toString('utf8') : entry.data
    if (secrets.some((secret) => text.includes(secret))) {
      throw new TetherError('internal', 'diag-secret', `the diagnostic entry ${entry.name} would hold secret material; no package was written`, {hint: 'this is a bug in tether; report it'})
    }
  }

  const dir = diagDirectory(store.dir)
  fs.mkdirSync(dir, {recursive: true, mode: PRIVATE_DIR_MODE})
  const name = `tether-diag-${os.hostname().replace(/[^\w.-]/g, '_')}-${stamp(now)}.zip`
  writeFileAtomic(path.join(dir, name), buildZip(entries, now), PRIVATE_FILE_MODE)
  return {dir, file: name, entries: entries.map((e) => e.name)}
}
