import {TetherError} from '../errors.js'
import {ACTIVATION_ARG_KEYS} from '../protocol/activation-keys.js'
import type {ActivationRequestArgs, HeartbeatRequest} from '../protocol/messages.js'

/**
 * The classic `keyword:value` words of `dsa_control -a` and `-m`. Keys are case-insensitive
 * (`policyID:`), values may hold spaces, colons and any script. An unknown key is a warning, not
 * a failure, as with the classic agent; `tenantPassword:` is the older name of `token:`.
 */

const ALIASES: Record<string, (typeof ACTIVATION_ARG_KEYS)[number]> = {tenantpassword: 'token'}

/**
 * On-demand words for engines tether does not have: accepted, recorded as an event and answered
 * with a note, so a script under `set -e` goes on.
 */
export const ENGINE_WORDS: Record<string, string> = {
  recommendationscan: 'RecommendationScan: tether has no recommendation engine',
  antimalwaremanualscan: 'AntiMalwareManualScan: tether has no anti-malware engine',
  antimalwarecancelmanualscan: 'AntiMalwareCancelManualScan: tether has no anti-malware engine',
  integrityscan: 'IntegrityScan: tether has no integrity monitoring engine',
  rebuildbaseline: 'RebuildBaseline: tether has no integrity monitoring engine',
  updatecomponent: 'UpdateComponent: tether has no updatable components',
}

export interface ClassicWords {
  args: ActivationRequestArgs
  warnings: string[]
  /** Engine words (their canonical names), for -m. */
  engineWords: string[]
  updateConfiguration: boolean
}

function split(word: string): {key: string; value: string} {
  const colon = word.indexOf(':')
  if (colon <= 0) {
    throw new TetherError('usage', 'bad-activation-argument', `"${word}" is not a keyword:value word`, {hint: `known keywords: ${ACTIVATION_ARG_KEYS.map((k) => `${k}:`).join(' ')}`})
  }

  return {key: word.slice(0, colon), value: word.slice(colon + 1)}
}

export function parseClassicWords(words: string[], use: 'activate' | 'heartbeat'): ClassicWords {
  const out: Record<string, string> = {}
  const result: ClassicWords = {args: out, warnings: [], engineWords: [], updateConfiguration: false}
  for (const word of words) {
    const {key, value} = split(word)
    const lower = key.toLowerCase()
    const canonical = ACTIVATION_ARG_KEYS.find((k) => k.toLowerCase() === lower) ?? ALIASES[lower]
    if (use === 'heartbeat' && lower === 'updateconfiguration') {
      result.updateConfiguration = /^(true|1|yes)$/i.test(value.trim())
    } else if (use === 'heartbeat' && ENGINE_WORDS[lower]) {
      result.engineWords.push(ENGINE_WORDS[lower].split(':')[0])
    } else if (canonical && !(use === 'heartbeat' && ['token', 'tenantID', 'hostname'].includes(canonical))) {
      out[canonical] = value
    } else {
      result.warnings.push(`unknown keyword "${key}:" ignored (known: ${ACTIVATION_ARG_KEYS.filter((k) => use === 'activate' || !['token', 'tenantID', 'hostname'].includes(k)).join(', ')}${use === 'heartbeat' ? ', UpdateConfiguration' : ''})`)
    }
  }

  return result
}

/** What -m asks the manager to change; undefined when it asks nothing. */
export function heartbeatRequestOf(words: ClassicWords): HeartbeatRequest | undefined {
  const {token: _t, tenantID: _i, hostname: _h, ...changes} = words.args
  const request: HeartbeatRequest = {...changes, ...(words.updateConfiguration ? {updateConfiguration: true} : {})}
  return Object.keys(request).length > 0 ? request : undefined
}
