import {Flags} from '@oclif/core'

/** Flags the agent commands that classic dsa_control options stand for share. */

export const passwordFlag = Flags.string({description: 'the self-protection password, when the policy sets one (dsa_control -p; * asks on a terminal)', helpValue: 'PASSWORD'})

export const serviceRetriesFlag = Flags.integer({description: 'retry reaching the local agent service this many times, 1 s apart (dsa_control -t)', default: 0, min: 0, max: 1000})
