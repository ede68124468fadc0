import type crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {TetherError, errnoCode} from '../errors.js'
import {
  CertificateSummary,
  EKU_SERVER_AUTH,
  allowsUsage,
  fingerprint,
  parseCertificate,
  parseCertificateFile,
  renewalPoint,
  summarize,
  validityProblem,
} from '../pki/certificate.js'
import {PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, removeFileDurable, writeFileAtomic} from '../platform/fsutil.js'
import {failpoint} from '../platform/failpoint.js'
import {DirLock, LockOptions} from '../platform/lock.js'
import {checkPrivateDirectory} from '../platform/private-dir.js'
import {bootstrapIdentity} from '../pki/bootstrap.js'
import {DSA_FILES, DsaCoreFiles, damaged} from './store-files.js'

/**
 * The agent's dsa_core directory: its credentials, its binding, and their atomic changes. Its
 * files and their reading are store-files.ts's, which a command that only reads them (dsa_control
 * -m through the running agent) loads without the certificate, lock and journal code here.
 */

export {DSA_FILES} from './store-files.js'

/** The one file name the binding certificate must carry, as the product documents. */
export const BINDING_FILE_NAME = DSA_FILES.dsmCert

export type AgentState = 'unactivated' | 'pre-activated' | 'activated'

export interface AgentStatus {
  state: AgentState
  dsaCore: string
  /** The hash of the certificate this agent presents now: the bootstrap one until activation. */
  certificateHash: {sha1: string; sha256: string; bootstrap: boolean}
  boundManager?: CertificateSummary
  manager?: CertificateSummary
  agentCertificate?: CertificateSummary
  caCertificate?: CertificateSummary
  configuration?: {policy: string; version: number; sha256: string; appliedAt: string}
  /** When the manager renews the agent certificate (at the first contact after renewsAt), if it said. */
  renewal?: {renewsAt: string; notAfter: string; daysLeft: number}
}

/** A set of file changes applied all together or not at all (see DsaCore.commit). */
export interface StoreChange {
  write?: Partial<Record<keyof typeof DSA_FILES, string>>
  remove?: Array<keyof typeof DSA_FILES>
}

interface JournalRecord {
  version: 1
  write: Array<{name: string; content: string; mode: number}>
  remove: string[]
}

const PRIVATE_NAMES = new Set<string>([DSA_FILES.key, DSA_FILES.config, DSA_FILES.configMeta])
/** The only names a change journal may write or remove: the dsa_core file set, bare names. */
const JOURNAL_NAMES = new Set<string>(Object.values(DSA_FILES).filter((name) => name !== DSA_FILES.journal))

/** dsa_core with its certificates, its lock and its change journal. */
export class DsaCore extends DsaCoreFiles {
  /**
   * Run `fn` holding the dsa_core lock, after finishing any change a crash interrupted. Waiting
   * blocks the thread: for CLI processes only. The running agent uses lockedAsync.
   */
  locked<T>(fn: () => T): T {
    this.ensureDir()
    try {
      const lock = DirLock.acquire(this.dir, this.lockOptions())
      try {
        this.recover()
        return fn()
      } finally {
        lock.release()
      }
    } catch (error) {
      throw this.unwritable(error)
    }
  }

  /**
   * The same for the running agent: waiting for another process's lock (a CLI's `agent bind`,
   * `dsa_control -r`) polls on timers, so the agent keeps serving meanwhile. `fn` is synchronous
   * on purpose: the lock is never held across an await, so it is held for milliseconds and no
   * other code of this process runs while it is.
   */
  async lockedAsync<T>(fn: () => T): Promise<T> {
    this.ensureDir()
    try {
      const lock = await DirLock.acquireAsync(this.dir, this.lockOptions())
      try {
        this.recover()
        const result = fn()
        if (result instanceof Promise) throw new Error('the dsa_core lock must not be held across an await')
        return result
      } finally {
        lock.release()
      }
    } catch (error) {
      throw this.unwritable(error)
    }
  }

  private lockOptions(): LockOptions {
    return {
      what: `the agent directory ${this.dir}`,
      onWait: (holder) => this.log?.info('waiting-for-lock', {dsaCore: this.dir, holderPid: holder.pid}),
    }
  }

  /** Permission errors, from the lock or a write, say how to run instead. */
  private unwritable(error: unknown): unknown {
    const code = errnoCode(error)
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') return error
    return new TetherError('usage', 'dsa-core-unwritable', `cannot write in ${this.dir} (${code})`, {
      hint: 'run as root (the agent owns that directory), or choose another with --dsa-core',
    })
  }

  /**
   * Apply several file changes atomically as a group (redo journal): the whole change is first
   * written to one journal file (atomic rename), then applied file by file, then the journal is
   * removed. A crash before the journal lands changes nothing; after, recovery replays it.
   * Call inside `locked`.
   */
  commit(change: StoreChange): void {
    const record: JournalRecord = {
      version: 1,
      write: Object.entries(change.write ?? {}).map(([key, content]) => {
        const name = DSA_FILES[key as keyof typeof DSA_FILES]
        return {name, content: content as string, mode: PRIVATE_NAMES.has(name) ? PRIVATE_FILE_MODE : PUBLIC_FILE_MODE}
      }),
      remove: (change.remove ?? []).map((key) => DSA_FILES[key]),
    }
    failpoint('dsa-core:commit-start')
    writeFileAtomic(this.file('journal'), JSON.stringify(record), PRIVATE_FILE_MODE)
    failpoint('dsa-core:journal-written')
    this.replay(record)
  }

  /** Finish a change interrupted by a crash. Idempotent. */
  recover(): void {
    const text = this.read('journal')
    if (text === undefined) return
    let record: JournalRecord
    try {
      record = JSON.parse(text) as JournalRecord
    } catch (error) {
      // The journal is renamed into place whole, so an unparsable one was damaged after the fact.
      throw new TetherError('internal', 'journal-corrupted', `the agent change journal ${this.file('journal')} is damaged`, {
        hint: 'reset the agent with `dsa_control -r` and activate it again',
        cause: error,
      })
    }

    this.replay(this.checkedJournal(record))
  }

  /**
   * A journal on disk is replayed as root, so it may name only dsa_core's own files (a planted
   * one could otherwise write anywhere): checked whole before anything is applied.
   */
  private checkedJournal(record: JournalRecord): JournalRecord {
    const file = this.file('journal')
    const refuse = (what: string) => new TetherError('trust', 'journal-invalid', `the agent change journal ${file} ${what}; nothing was applied`, {
      hint: `tether never writes such a journal: find out who did, remove it (rm ${file}), then reset the agent (\`dsa_control -r\`)`,
    })
    if (record === null || typeof record !== 'object' || record.version !== 1 || !Array.isArray(record.write) || !Array.isArray(record.remove)) throw refuse('is not a tether change journal')
    for (const entry of record.write) {
      if (entry === null || typeof entry !== 'object' || typeof entry.content !== 'string') throw refuse('holds an entry that is not a file change')
      if (!JOURNAL_NAMES.has(entry.name)) throw refuse(`names ${JSON.stringify(entry.name)}, which is not a dsa_core file`)
      if (entry.mode !== PRIVATE_FILE_MODE && entry.mode !== PUBLIC_FILE_MODE) throw refuse(`gives ${entry.name} mode ${typeof entry.mode === 'number' ? entry.mode.toString(8) : JSON.stringify(entry.mode)}`)
    }

    for (const name of record.remove) if (!JOURNAL_NAMES.has(name)) throw refuse(`names ${JSON.stringify(name)}, which is not a dsa_core file`)
    return record
  }

  private replay(record: JournalRecord): void {
    for (const [i, entry] of record.write.entries()) {
      writeFileAtomic(path.join(this.dir, entry.name), entry.content, entry.mode)
      if (i === 0) failpoint('dsa-core:first-file-applied')
    }

    for (const [i, name] of record.remove.entries()) {
      removeFileDurable(path.join(this.dir, name))
      if (i === 0) failpoint('dsa-core:first-file-removed')
    }

    removeFileDurable(this.file('journal'))
  }

  private certificate(name: keyof typeof DSA_FILES): crypto.X509Certificate | undefined {
    const pem = this.read(name)
    if (pem === undefined) return undefined
    try {
      return parseCertificate(pem, DSA_FILES[name])
    } catch (error) {
      throw damaged(this.dir, `${DSA_FILES[name]} is not a valid certificate`, error)
    }
  }

  state(): AgentState {
    const credentials = ['key', 'cert', 'dsmCaCert'] as const
    const present = credentials.filter((name) => fs.existsSync(this.file(name)))
    if (present.length === credentials.length) return 'activated'
    if (present.length > 0 && !fs.existsSync(this.file('journal'))) {
      const missing = credentials.filter((name) => !present.includes(name)).map((name) => DSA_FILES[name])
      throw damaged(this.dir, `activation credentials are incomplete (missing ${missing.join(', ')})`)
    }

    return fs.existsSync(this.file('dsmCert')) ? 'pre-activated' : 'unactivated'
  }

  /** What `agent status` shows; a change another process has in progress is waited for (CLI). */
  status(): AgentStatus {
    checkPrivateDirectory(this.dir, 'the agent directory')
    if (fs.existsSync(this.file('journal'))) this.locked(() => undefined)
    return this.currentStatus()
  }

  /** The same for the running agent (GetAgentStatus), waiting without blocking it. */
  async statusAsync(): Promise<AgentStatus> {
    if (fs.existsSync(this.file('journal'))) await this.lockedAsync(() => undefined)
    return this.currentStatus()
  }

  private currentStatus(): AgentStatus {
    const state = this.state()
    const dsm = this.certificate('dsmCert')
    const agent = state === 'activated' ? this.certificate('cert')! : undefined
    // The shipped bootstrap certificate is read only when it is the one presented, not at every
    // status of an activated agent (each heartbeat's GetAgentStatus).
    const certificateHash = agent ? {sha1: fingerprint(agent, 'sha1'), sha256: fingerprint(agent, 'sha256'), bootstrap: false} : {...bootstrapHash(), bootstrap: true}
    const status: AgentStatus = {state, dsaCore: this.dir, certificateHash}
    if (agent) {
      status.agentCertificate = summarize(agent)
      status.caCertificate = summarize(this.certificate('dsmCaCert')!)
      if (dsm) status.manager = summarize(dsm)
      status.configuration = this.appliedConfiguration()
      const renewAfter = this.communication()?.renewAfter
      if (renewAfter !== undefined) {
        const notAfter = new Date(agent.validTo)
        status.renewal = {renewsAt: renewalPoint(agent.validFrom, notAfter, renewAfter).toISOString(), notAfter: notAfter.toISOString(), daysLeft: Math.floor((notAfter.getTime() - Date.now()) / 86_400_000)}
      }
    } else if (state === 'pre-activated' && dsm) {
      status.boundManager = summarize(dsm)
    }

    return status
  }

  /**
   * Bind this (unactivated) agent to one manager: only the manager presenting exactly this
   * certificate, and proving its key in the handshake, may activate it.
   */
  bind(sourceFile: string, text: string, now: Date = new Date()): {previous?: CertificateSummary; bound: CertificateSummary} {
    if (path.basename(sourceFile) !== BINDING_FILE_NAME) {
      throw new TetherError('usage', 'binding-file-name', `the binding file must be named exactly ${BINDING_FILE_NAME}, not ${path.basename(sourceFile)}`, {
        hint: `export it with \`dsm_c -action exportdsmcert -output ${BINDING_FILE_NAME}\` and pass that file`,
      })
    }

    const {pem, certificate} = parseCertificateFile(text, sourceFile)
    checkUsableManagerCertificate(certificate, sourceFile, now)

    return this.locked(() => {
      const state = this.state()
      if (state === 'activated') {
        const manager = this.certificate('dsmCert')
        throw new TetherError('refused', 'already-activated', `the agent in ${this.dir} is already activated${manager ? ` by the manager with certificate ${fingerprint(manager)}` : ''}`, {
          hint: 'reset it first (`dsa_control -r`), then bind and activate',
        })
      }

      const previousCert = state === 'pre-activated' ? this.certificate('dsmCert') : undefined
      this.commit({write: {dsmCert: pem}})
      return {previous: previousCert ? summarize(previousCert) : undefined, bound: summarize(certificate)}
    })
  }
}

/** Everything activation or binding put in dsa_core: a reset removes all of it in one change. */
export const RESET_REMOVES: Array<keyof typeof DSA_FILES> = ['key', 'cert', 'dsmCert', 'dsmCaCert', 'config', 'configMeta', 'comm', 'crl']

export interface ResetResult {
  previousState: AgentState
  removed: string[]
}

/**
 * Return the agent to unactivated: credentials, manager and CA certificates, configuration and
 * binding all go together (one journaled change). Idempotent.
 */
export function resetAgent(store: DsaCore, options: {unbind?: boolean} = {unbind: true}): ResetResult {
  if (!store.exists()) return {previousState: 'unactivated', removed: []}
  return store.locked(() => {
    // Checked under the lock: the state may have changed while this waited for it.
    if (!options.unbind) refuseBoundReset(store)
    let previousState: AgentState
    try {
      previousState = store.state()
    } catch {
      // A damaged state is exactly what reset is for.
      previousState = 'activated'
    }

    const removed = RESET_REMOVES.filter((name) => fs.existsSync(store.file(name))).map((name) => DSA_FILES[name])
    if (removed.length > 0) store.commit({remove: RESET_REMOVES})
    return {previousState, removed}
  })
}

/**
 * A pre-activated (bound) agent is not reset by a plain reset, by design: a stock `-r; -a` script
 * must fail loudly rather than silently unbind it. `agent reset --unbind` clears a binding.
 */
function refuseBoundReset(store: DsaCore): void {
  if (stateIfReadable(store) !== 'pre-activated') return
  const bound = fingerprint(parseCertificate(store.read('dsmCert')!, DSA_FILES.dsmCert))
  throw new TetherError('trust', 'bound-agent-refuses-reset', `this agent is bound to the manager with certificate SHA-256 ${bound} (pre-activated); a local reset is refused by design`, {
    hint: 'activate it from that manager, or clear the binding explicitly: tether agent reset --unbind --yes',
    details: {httpStatus: 403},
  })
}

/** The state, or undefined when it is damaged (what reset is for). */
export function stateIfReadable(store: DsaCore): AgentState | undefined {
  try {
    return store.exists() ? store.state() : undefined
  } catch {
    return undefined
  }
}

function bootstrapHash(): {sha1: string; sha256: string} {
  const {sha1, sha256} = bootstrapIdentity()
  return {sha1, sha256}
}

/** A binding certificate must be a manager's TLS server certificate, valid now. */
export function checkUsableManagerCertificate(certificate: crypto.X509Certificate, what: string, now: Date): void {
  if (certificate.ca) {
    throw new TetherError('usage', 'binding-is-ca', `${what} is a CA certificate, not the manager's own certificate`, {
      hint: 'export the manager certificate with `dsm_c -action exportdsmcert -output ds_agent_dsm.crt`',
    })
  }

  if (!allowsUsage(certificate, EKU_SERVER_AUTH)) {
    throw new TetherError('usage', 'binding-not-server-cert', `${what} cannot be used as a TLS server certificate (no serverAuth usage)`, {
      hint: 'export the manager certificate with `dsm_c -action exportdsmcert -output ds_agent_dsm.crt`',
    })
  }

  const problem = validityProblem(certificate, now)
  if (problem) {
    const when = problem === 'expired' ? `expired on ${new Date(certificate.validTo).toISOString()}` : `is not valid before ${new Date(certificate.validFrom).toISOString()}`
    throw new TetherError('usage', `binding-${problem}`, `${what} ${when}`, {
      hint: problem === 'expired' ? 'export the current manager certificate and bind again' : "check this machine's clock",
    })
  }
}
