import {TetherError, isTetherError} from '../errors.js'
import type {ActivationRequest} from './activation.js'
import type {ManagerContext} from './context.js'
import {activate} from './manager-initiated.js'

/**
 * Activating many agents: bounded concurrency over one open manager context; one failure never
 * stops the others, and each host gets its own result.
 */

export interface BulkResult {
  target: string
  ok: boolean
  computerId?: number
  hostname?: string
  alreadyActivated?: boolean
  error?: ReturnType<TetherError['toJSON']>
}

export interface BulkSummary {
  total: number
  activated: number
  alreadyActivated: number
  failed: number
}

/** One HOST[:PORT] per line; blank lines and # comments are ignored. */
export function parseTargets(text: string): string[] {
  return text.split(/\r?\n/).map((line) => line.replace(/#.*$/, '').trim()).filter(Boolean)
}

export async function activateMany(manager: ManagerContext, targets: string[], options: {concurrency: number; request?: ActivationRequest; onResult?(result: BulkResult, done: number): void}): Promise<{results: BulkResult[]; summary: BulkSummary}> {
  const results: BulkResult[] = new Array(targets.length)
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < targets.length) {
      const index = next++
      const target = targets[index]
      let result: BulkResult
      try {
        const {computer, alreadyActivated} = await activate(manager, target, options.request ?? {})
        result = {target, ok: true, computerId: computer.id, hostname: computer.hostname, alreadyActivated}
      } catch (error) {
        const failure = isTetherError(error) ? error : new TetherError('internal', 'internal', (error as Error).message)
        result = {target, ok: false, error: failure.toJSON()}
      }

      results[index] = result
      options.onResult?.(result, ++done)
    }
  }

  await Promise.all(Array.from({length: Math.max(1, Math.min(options.concurrency, targets.length))}, worker))
  return {
    results,
    summary: {
      total: results.length,
      activated: results.filter((r) => r.ok && !r.alreadyActivated).length,
      alreadyActivated: results.filter((r) => r.ok && r.alreadyActivated).length,
      failed: results.filter((r) => !r.ok).length,
    },
  }
}
