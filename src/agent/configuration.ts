import crypto from 'node:crypto'
import zlib from 'node:zlib'

import {TetherError, isTetherError} from '../errors.js'
import {openEnvelope} from '../pki/cms.js'
import {verifySignedData} from '../pki/signed-data.js'
import {parseCertificate} from '../pki/certificate.js'
import {loadPrivateKey} from '../pki/keys.js'
import {toPem} from '../pki/pem.js'
import {Logger, silentLogger} from '../platform/log.js'
import type {Database} from '../platform/sqlite.js'
import {recordEvent} from './database.js'
import {judgeManager} from './manager-trust.js'
import {applyPolicySelfProtection} from './self-protection.js'
import {DsaCore} from './store.js'

/**
 * Applying a security configuration: the CMS envelope is opened with the agent's own key, the
 * gzipped JSON inside is checked, and only then are the envelope (as received) and its summary
 * stored, in one journaled change. Any failure leaves the previous configuration in force.
 */

export const MAX_CONFIGURATION_BYTES = 64 * 1024 * 1024

export interface AppliedConfiguration {
  policy: string
  version: number
  sha256: string
  appliedAt: string
}

function invalid(message: string, hint?: string): TetherError {
  return new TetherError('usage', 'configuration-invalid', message, {hint})
}

export function decodeConfiguration(plaintext: Buffer): {policy: string; version: number; bytes: Buffer} {
  let bytes: Buffer
  try {
    bytes = zlib.gunzipSync(plaintext, {maxOutputLength: MAX_CONFIGURATION_BYTES})
  } catch (error) {
    throw (error as {code?: string}).code === 'ERR_BUFFER_TOO_LARGE'
      ? new TetherError('refused', 'configuration-too-large', `the configuration expands beyond ${MAX_CONFIGURATION_BYTES} bytes`)
      : invalid('the decrypted configuration is not gzip data (corrupted, or not a tether configuration)')
  }

  let parsed: {policy?: unknown; version?: unknown; document?: unknown}
  try {
    parsed = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw invalid('the configuration is not valid JSON')
  }

  if (typeof parsed.policy !== 'string' || !Number.isInteger(parsed.version) || (parsed.version as number) < 1 || !parsed.document || typeof parsed.document !== 'object') {
    throw invalid('the configuration must be {"policy": string, "version": positive integer, "document": object}')
  }

  return {policy: parsed.policy, version: parsed.version as number, bytes}
}

export async function applyConfiguration(
  store: DsaCore,
  db: Database,
  envelopeBase64: unknown,
  now: Date = new Date(),
  stillValid: () => void = () => undefined,
  log: Logger = silentLogger,
): Promise<AppliedConfiguration> {
  try {
    if (typeof envelopeBase64 !== 'string' || !/^[A-Za-z0-9+/]+=*$/.test(envelopeBase64)) {
      throw invalid('SetSecurityConfiguration needs "envelope": the CMS envelope, base64-encoded DER')
    }

    const der = Buffer.from(envelopeBase64, 'base64')
    const opened = openEnvelope(der, parseCertificate(store.read('cert')!, 'ds_agent.crt'), loadPrivateKey(store.read('key')!, 'ds_agent.key'))
    // Anyone can encrypt to the agent's certificate; only a manager of its CA may sign what it applies.
    const signed = verifySignedData(opened.content)
    const signer = judgeManager(store, signed.signer, now)
    if (!signer.ok) {
      throw new TetherError('trust', 'configuration-signer-refused', `the configuration is signed by a certificate that is not this agent's manager: ${signer.detail}`, {
        hint: 'sign it with a manager certificate of this agent\'s CA (`openssl cms -sign -signer manager.crt -inkey manager.key -nodetach`)',
      })
    }

    const configuration = decodeConfiguration(signed.content)
    const applied: AppliedConfiguration = {
      policy: configuration.policy,
      version: configuration.version,
      sha256: crypto.createHash('sha256').update(configuration.bytes).digest('hex'),
      appliedAt: now.toISOString(),
    }
    await store.lockedAsync(() => {
      // Decrypting took time: the agent may have been reset or deactivated meanwhile.
      stillValid()
      store.commit({write: {config: toPem('CMS', der), configMeta: JSON.stringify(applied)}})
    })
    await applyPolicySelfProtection(store, configuration.bytes)
    recordEvent(db, 'configuration-applied', {policy: applied.policy, version: applied.version, sha256: applied.sha256})
    log.info('configuration-applied', {policy: applied.policy, version: applied.version, sha256: applied.sha256})
    return applied
  } catch (error) {
    const code = isTetherError(error) ? error.code : 'internal'
    recordEvent(db, 'configuration-rejected', {code, message: (error as Error).message})
    log.warn('configuration-rejected', {reason: code, detail: (error as Error).message})
    throw error
  }
}
