import fs from 'node:fs'

import {TetherError, errnoCode} from '../../errors.js'

/** --keylog: the TLS secrets in NSS key log format, for Wireshark. */
export interface KeyLogSink {
  readonly file: string
  write(line: Buffer): void
  close(): void
  lines: number
}

export function openKeyLog(file: string): KeyLogSink {
  let fd: number
  try {
    // Appended, as SSLKEYLOGFILE is: several sessions in one file. Owner-only: these are secrets.
    fd = fs.openSync(file, 'a', 0o600)
    fs.fchmodSync(fd, 0o600)
  } catch (error) {
    throw new TetherError('usage', 'keylog-unwritable', `cannot write the key log ${file} (${errnoCode(error) ?? (error as Error).message})`, {
      hint: 'choose a writable path for --keylog',
    })
  }

  const sink = {
    file,
    lines: 0,
    write(line: Buffer) {
      fs.writeSync(fd, line)
      sink.lines++
    },
    close() {
      fs.closeSync(fd)
    },
  }
  return sink
}
