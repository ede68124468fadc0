import fs from 'node:fs'
import path from 'node:path'

import {tempDir} from './helpers.js'

/**
 * Moving the wall clock under real processes with libfaketime (Debian's faketime package): each
 * process started with `env` reads the time from a file on every call, so `set` moves it for all
 * of them at once while they run. Monotonic clocks (timers) are left alone.
 */

export function faketimeLibrary(): string {
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib']) {
    const candidate = path.join(dir, 'faketime', 'libfaketimeMT.so.1')
    if (fs.existsSync(candidate)) return candidate
  }

  throw new Error('libfaketime is not installed (Debian package faketime; .ci/run installs it)')
}

const stamp = (at: Date) => `@${at.toISOString().replace('T', ' ').slice(0, 19)}`

export class FakeClock {
  readonly env: Record<string, string>
  private readonly file: string

  constructor(start: Date) {
    this.file = path.join(tempDir('tether-faketime-'), 'now')
    fs.writeFileSync(this.file, stamp(start))
    this.env = {LD_PRELOAD: faketimeLibrary(), FAKETIME_TIMESTAMP_FILE: this.file, FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1'}
  }

  /** From now on every process of this clock reads (about) `at`, and time runs on from there. */
  set(at: Date): void {
    fs.writeFileSync(this.file, stamp(at))
  }
}
