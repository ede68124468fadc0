import {Flags} from '@oclif/core'

import {LOG_FORMATS, LOG_LEVELS, LogFormat, LogLevel, Logger, createLogger, fileSink} from '../platform/log.js'
import {DSA_CORE_ENV, MANAGER_HOME_ENV} from '../platform/paths.js'

/** Flags shared by several commands, defined once so their wording and defaults agree. */

export const homeFlag = Flags.string({
  description: `manager home directory (default: $${MANAGER_HOME_ENV}, else a per-user directory)`,
  helpValue: 'DIR',
})

export const dsaCoreFlag = Flags.string({
  description: `agent dsa_core directory (default: $${DSA_CORE_ENV}, else the platform path)`,
  helpValue: 'DIR',
})

export const yesFlag = Flags.boolean({
  char: 'y',
  description: 'answer yes to confirmations (required when not on a terminal)',
  default: false,
})

/** The daemons' log: one line per event on stderr (their stdout keeps the one "listening" line). */
export const logFormatFlag = Flags.option({
  options: LOG_FORMATS,
  description: 'how log lines on stderr are written: logfmt (key=value) or json (one object per line)',
  default: 'logfmt' as LogFormat,
  env: 'TETHER_LOG_FORMAT',
})()

export const logLevelFlag = Flags.option({
  options: LOG_LEVELS,
  description: 'the least severe events logged on stderr',
  default: 'info' as LogLevel,
  env: 'TETHER_LOG_LEVEL',
})()

/** The logger a daemon command's --log-format and --log-level ask for. */
/** A daemon's logger: stderr, and with `file` also a size-capped log file (the agent keeps one in dsa_core). */
export function daemonLogger(flags: {'log-format': LogFormat; 'log-level': LogLevel}, file?: {path: string; maxBytes: number}): Logger {
  return createLogger({format: flags['log-format'], level: flags['log-level'], also: file ? [fileSink(file.path, file.maxBytes)] : []})
}
