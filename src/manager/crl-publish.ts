import {type CrlSummary, readCrl} from '../pki/crl.js'
import {PUBLIC_FILE_MODE, readIfExists, writeFileAtomic} from '../platform/fsutil.js'
import {type Logger, errorFields} from '../platform/log.js'
import type {ManagerContext} from './context.js'
import {currentCrl} from './revocation.js'

/**
 * Publishing the CRL to a file (a web server's directory, a share agents' tooling reads), once or
 * kept fresh: the current CRL is re-read on an interval and the file rewritten, atomically, only
 * when its content changed (a revocation, or the manager re-issuing it before nextUpdate).
 */

export interface CrlView {
  number: number | string | null
  thisUpdate: string
  nextUpdate: string | null
  revokedCount: number
}

/** What an operator reads off a CRL; a CRL number too large for a JSON number stays a decimal string. */
export function viewCrl(summary: CrlSummary): CrlView {
  const number = summary.number === undefined ? null : summary.number <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(summary.number) : summary.number.toString()
  return {number, thisUpdate: summary.thisUpdate.toISOString(), nextUpdate: summary.nextUpdate?.toISOString() ?? null, revokedCount: summary.revoked.length}
}

/** Write the current CRL to `file` unless the file already holds exactly it. */
export async function publishCrl(ctx: ManagerContext, file: string): Promise<{changed: boolean; pem: string; crl: CrlView}> {
  const {pem} = await currentCrl(ctx)
  const crl = viewCrl(readCrl(pem))
  if (readIfExists(file)?.toString('utf8') === pem) return {changed: false, pem, crl}
  writeFileAtomic(file, pem, PUBLIC_FILE_MODE)
  return {changed: true, pem, crl}
}

/** One log line per rewrite (info), per unchanged check (debug), per failure (warn, and the next tick tries again). */
async function tick(ctx: ManagerContext, file: string, log: Logger): Promise<void> {
  try {
    const {changed, crl} = await publishCrl(ctx, file)
    log[changed ? 'info' : 'debug'](changed ? 'crl-written' : 'crl-unchanged', {file, ...crl})
  } catch (error) {
    log.warn('crl-publish-failed', {file, ...errorFields(error)})
  }
}

/**
 * Publish now (a failure here is the caller's: the file cannot be written at all), then again every
 * `intervalMs` until stopped. Ticks never overlap: each is scheduled after the last one ended.
 */
export async function watchCrl(ctx: ManagerContext, file: string, intervalMs: number, log: Logger): Promise<{first: Awaited<ReturnType<typeof publishCrl>>; stop(): Promise<void>}> {
  const first = await publishCrl(ctx, file)
  log.info(first.changed ? 'crl-written' : 'crl-unchanged', {file, ...first.crl})
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  let stopped = false
  const schedule = () => {
    timer = setTimeout(() => {
      running = tick(ctx, file, log).then(() => {
        if (!stopped) schedule()
      })
    }, intervalMs)
  }

  schedule()
  return {
    first,
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}
