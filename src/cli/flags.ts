import {Flags} from '@oclif/core'

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
