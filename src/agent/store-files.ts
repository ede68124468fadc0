import fs from 'node:fs'
import path from 'node:path'

import {TetherError, errnoCode} from '../errors.js'
import {PRIVATE_DIR_MODE, readIfExists} from '../platform/fsutil.js'
import type {Logger} from '../platform/log.js'
import {checkPrivateDirectory} from '../platform/private-dir.js'
import type {AgentCommunication} from '../protocol/messages.js'

/**
 * The files of the agent's dsa_core directory and their reading: what DsaCore (store.ts) adds its
 * certificates, lock and change journal to. A module of its own so that a command that only reads
 * them (dsa_control -m through the running agent) loads none of that (a cold start pays for every
 * module).
 */

export const DSA_FILES = {
  key: 'ds_agent.key',
  cert: 'ds_agent.crt',
  dsmCert: 'ds_agent_dsm.crt',
  dsmCaCert: 'ds_agent_dsm_ca.crt',
  config: 'ds_agent.config',
  configMeta: 'ds_agent.config.json',
  comm: 'ds_agent.comm.json',
  /** The CRL the manager last delivered (verified against the CA when it arrived). */
  crl: 'ds_agent_dsm.crl',
  journal: 'ds_agent.journal',
} as const

/** dsa_core's files, read (each as it is on disk now; never cached). */
export class DsaCoreFiles {
  /**
   * `log`: where waiting for another process's lock is reported (the running agent's log); none
   * for a CLI (and the logging module is not loaded with every classic tool).
   */
  constructor(
    readonly dir: string,
    protected readonly log?: Logger,
  ) {}

  file(name: keyof typeof DSA_FILES): string {
    return path.join(this.dir, DSA_FILES[name])
  }

  read(name: keyof typeof DSA_FILES): string | undefined {
    try {
      return readIfExists(this.file(name))?.toString('utf8')
    } catch (error) {
      if (errnoCode(error) === 'ENOTDIR') return undefined
      throw new TetherError('internal', 'dsa-core-unreadable', `cannot read ${this.file(name)}: ${(error as Error).message}`, {
        hint: 'run as root (or the user that owns the agent)',
      })
    }
  }

  exists(): boolean {
    return fs.existsSync(this.dir)
  }

  /** Create dsa_core (owner-only) if missing; its parent must exist (the agent is installed there). */
  ensureDir(): void {
    const parent = path.dirname(this.dir)
    if (!fs.existsSync(parent)) {
      throw new TetherError('notFound', 'dsa-core-parent-missing', `the agent directory ${parent} does not exist`, {
        hint: 'install the agent first, or point --dsa-core / $TETHER_DSA_CORE at its dsa_core directory',
      })
    }

    try {
      fs.mkdirSync(this.dir, {mode: PRIVATE_DIR_MODE})
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') {
        // Not made here: a directory another user can write to would let them swap the CA.
        checkPrivateDirectory(this.dir, 'the agent directory')
        return
      }

      throw new TetherError('usage', 'dsa-core-unwritable', `cannot create ${this.dir} (${errnoCode(error) ?? (error as Error).message})`, {
        hint: 'run as root (the agent owns that directory), or choose another with --dsa-core',
      })
    }
  }

  /** The configuration in force: its policy, version and fingerprint (absent until one is applied). */
  appliedConfiguration(): {policy: string; version: number; sha256: string; appliedAt: string} | undefined {
    const text = this.read('configMeta')
    if (text === undefined) return undefined
    try {
      return JSON.parse(text)
    } catch (error) {
      throw damaged(this.dir, `${DSA_FILES.configMeta} is not valid JSON`, error)
    }
  }

  /** How to reach the manager after activation (absent before activation). */
  communication(): AgentCommunication | undefined {
    const text = this.read('comm')
    if (text === undefined) return undefined
    try {
      return JSON.parse(text) as AgentCommunication
    } catch (error) {
      throw damaged(this.dir, `${DSA_FILES.comm} is not valid JSON`, error)
    }
  }
}

/** A dsa_core file tether wrote that cannot be read as such: a reset is the way out. */
export function damaged(dir: string, what: string, cause?: unknown): TetherError {
  return new TetherError('internal', 'dsa-core-damaged', `the agent state in ${dir} is damaged: ${what}`, {
    hint: 'reset the agent with `dsa_control -r` and activate it again',
    cause,
  })
}
