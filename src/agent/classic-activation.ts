import {TetherError, isTetherError} from '../errors.js'
import {KeyPairPem, generateRsaKeyPair} from '../pki/keys.js'
import type {ActivationReport, ActivationRequestArgs} from '../protocol/messages.js'
import {SessionProgress, activateWithManager} from './outbound.js'
import type {AgentRuntime} from './server.js'
import {RESET_REMOVES} from './store.js'

/**
 * `dsa_control -a URL [words] --max-dsm-retries N --dsm-retry-interval S`: activation with the
 * classic retries. Only a failure that may pass is retried (the manager unreachable, busy or
 * rate-limiting, a 5xx); a refusal ends at once with its status. Every attempt uses one key pair,
 * so the attempts are one agent.
 */

export const DEFAULT_DSM_RETRIES = 30
export const DEFAULT_DSM_RETRY_INTERVAL_S = 300

export interface RetryPolicy {
  retries: number
  intervalSeconds: number
}

/** A manager verdict worth trying again later. */
export function statusMayPass(status: number): boolean {
  return status === 429 || status >= 500
}

function errorMayPass(error: unknown): boolean {
  return isTetherError(error) && error.failure === 'unreachable'
}

export async function activateWithRetries(runtime: AgentRuntime, url: string, args: ActivationRequestArgs, policy: RetryPolicy, progress: SessionProgress): Promise<ActivationReport> {
  let keys: Promise<KeyPairPem> | undefined
  const generateKeys = () => (keys ??= generateRsaKeyPair())
  for (let attempt = 0; ; attempt++) {
    const before = runtime.store.state()
    let outcome: {report: ActivationReport} | {error: unknown}
    try {
      outcome = {report: await activateWithManager(runtime, url, args, {progress, generateKeys: policy.retries > 0 ? generateKeys : undefined})}
    } catch (error) {
      outcome = {error}
    }

    const passing = 'report' in outcome ? outcome.report.status !== 200 && statusMayPass(outcome.report.status) : errorMayPass(outcome.error)
    if (!passing || attempt >= policy.retries) {
      if ('report' in outcome) return outcome.report
      throw outcome.error
    }

    // An attempt that got as far as installing credentials but was never confirmed: undo it,
    // so the next attempt starts from the same (unactivated) agent.
    if (before !== 'activated' && runtime.store.state() === 'activated') await runtime.store.lockedAsync(() => runtime.store.commit({remove: RESET_REMOVES}))
    const why = 'report' in outcome ? `HTTP ${outcome.report.status} ${outcome.report.reason}` : (outcome.error as TetherError).message
    progress.line(`Activation attempt ${attempt + 1} failed (${why}); re-attempting in ${policy.intervalSeconds} s (${policy.retries - attempt} left)`)
    runtime.log.info('activation-retry', {attempt: attempt + 1, left: policy.retries - attempt, detail: why})
    await new Promise((resolve) => setTimeout(resolve, policy.intervalSeconds * 1000))
  }
}
