import path from 'node:path'

import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {untilSignalled} from '../../cli/foreground.js'
import {daemonLogger, logFormatFlag, logLevelFlag} from '../../cli/flags.js'
import {fieldLines} from '../../cli/render.js'
import {TetherError, errnoCode} from '../../errors.js'
import {publishCrl, viewCrl, watchCrl} from '../../manager/crl-publish.js'
import {currentCrl} from '../../manager/revocation.js'
import {readCrl} from '../../pki/crl.js'
import {formatDuration, parseDuration} from '../../platform/duration.js'

/** --interval as milliseconds (parsed here, not in the flag, so the error reads as every other tether error). */
function intervalMs(text: string): number {
  const ms = parseDuration(text, '--interval')
  if (ms < 100) throw new TetherError('usage', 'bad-duration', `--interval ${text} is too short`, {hint: 'use 100ms or more (the CRL changes only on a revocation, and days before it expires)'})
  return ms
}

const unwritable = (file: string, error: unknown) =>
  new TetherError('usage', 'crl-unwritable', `cannot write ${file} (${errnoCode(error) ?? (error as Error).message})`, {hint: 'choose a directory that exists and that you may write to'})

export default class ManagerCrl extends ManagerCommand {
  static summary = "Show the CA's certificate revocation list, publish it to a file, or keep a published file fresh"
  static description = `Shows the CRL number, thisUpdate, nextUpdate and how many certificates are revoked (deactivated, removed, superseded). --output writes the PEM (signed by the CA; check it with \`openssl crl -in FILE -CAfile ca.crt -verify\`) atomically; --pem prints it on standard output. With --watch, keeps running until SIGINT/SIGTERM: every --interval it re-reads the current CRL and rewrites the file only when its content changed (a revocation, or the CRL re-issued well before its nextUpdate), logging one line on stderr per rewrite (logfmt, or JSON with --log-format json). A cron or systemd timer running \`tether manager crl --output FILE\` does the same (see the README).`
  static examples = [
    '<%= config.bin %> manager crl',
    '<%= config.bin %> manager crl --output /srv/www/tether.crl',
    '<%= config.bin %> manager crl --pem | openssl crl -noout -text',
    '<%= config.bin %> manager crl --output /srv/www/tether.crl --watch --interval 15m',
  ]

  static flags = {
    output: Flags.string({char: 'o', description: 'write the PEM to this file (atomically, mode 0644)', helpValue: 'FILE'}),
    pem: Flags.boolean({description: 'print the PEM on standard output instead of the summary', exclusive: ['watch']}),
    watch: Flags.boolean({description: 'keep --output fresh until stopped (SIGINT/SIGTERM)', dependsOn: ['output']}),
    interval: Flags.string({description: 'with --watch: how often to re-read the CRL (ms, s, m, h, d; e.g. 10m, 1h)', helpValue: 'DURATION', default: '1h'}),
    'log-format': logFormatFlag,
    'log-level': logLevelFlag,
  }

  async run() {
    const {flags} = await this.parse(ManagerCrl)
    const interval = flags.watch ? intervalMs(flags.interval) : undefined
    const manager = await this.manager()
    const file = flags.output ? path.resolve(flags.output) : null
    if (interval !== undefined) return this.watch(manager, file!, interval, daemonLogger(flags))
    let pem: string
    try {
      pem = file ? (await publishCrl(manager, file)).pem : (await currentCrl(manager)).pem
    } catch (error) {
      throw error instanceof TetherError ? error : unwritable(file!, error)
    }

    const crl = viewCrl(readCrl(pem))
    const revoked = await manager.store.certificates.revoked()
    if (flags.pem) this.log(pem.trimEnd())
    else {
      this.log(fieldLines([['CRL number', crl.number], ['This update', crl.thisUpdate], ['Next update', crl.nextUpdate ?? 'none'], ['Revoked', `${crl.revokedCount} certificate(s)`]]).join('\n'))
      if (file) this.log(`Wrote ${file}`)
    }

    return {file, ...crl, revoked, pem}
  }

  private async watch(manager: Awaited<ReturnType<ManagerCrl['manager']>>, file: string, intervalMs: number, log: ReturnType<typeof daemonLogger>): Promise<undefined> {
    let watcher: Awaited<ReturnType<typeof watchCrl>>
    try {
      watcher = await watchCrl(manager, file, intervalMs, log)
    } catch (error) {
      throw error instanceof TetherError ? error : unwritable(file, error)
    }

    const stopped = untilSignalled(() => watcher.stop())
    const ready = {event: 'watching', file, intervalMs, ...watcher.first.crl, pid: process.pid}
    if (this.jsonEnabled()) this.jsonLine(ready)
    else this.log(`Publishing the CRL to ${file} every ${formatDuration(intervalMs)} (rewritten only when it changes); SIGINT/SIGTERM stop`)
    await stopped
    log.info('stopped', {file})
    return undefined
  }
}
