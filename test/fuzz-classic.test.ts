import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {parseClassicOptions} from '../src/compat/classic-args.js'
import {translateDsaControl} from '../src/compat/dsa_control.js'
import {translateDsmC} from '../src/compat/dsm_c.js'
import {PARAMS, RUNS, TIMEOUT_MS, onlyTetherErrors} from './fuzz.js'

/**
 * The classic argument parsers read argv a provisioning script (or anyone who can run the tool)
 * wrote: they translate it or fail with a usage error, never another exception. Kept apart from
 * the other parsers' properties because src/compat is being rewritten: update this file with it.
 */

/** Words of the classic syntax, option-shaped words, and names every JavaScript object has. */
const word = fc.oneof(
  fc.constantFrom('-action', '-Action', '--action', '-name', '-value', '-output', '-home', '-json', '--json', '-h', '-?', '--help', '-', '--', '-a', '-m', '-r', '-x'),
  fc.constantFrom('exportdsmcert', 'changesetting', 'viewsetting', 'ds_agent_dsm.crt', 'dsm://127.0.0.1:4120/', 'hostname:web-01', 'token:s3cret'),
  fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '-constructor', '-__proto__', '-toString'),
  fc.string({maxLength: 40}),
  fc.string({maxLength: 10}).map((s) => `-${s}`),
)
const argv = fc.array(word, {maxLength: 12})

describe(`the classic argument parsers (${RUNS} runs a property)`, () => {
  it('parseClassicOptions: options and --json, or a usage error', () => {
    fc.assert(fc.property(argv, fc.array(fc.constantFrom('json', 'force', 'constructor', '__proto__'), {maxLength: 2}), (args, flags) => onlyTetherErrors(() => {
      const {options} = parseClassicOptions(args, 'dsm_c', flags)
      for (const [name, value] of options) {
        expect(name).toBe(name.toLowerCase())
        expect(typeof value).toBe('string')
      }
    })), PARAMS)
  }, TIMEOUT_MS)

  it('translateDsmC: a tether argv of strings, or a usage error', () => {
    fc.assert(fc.property(argv, (args) => onlyTetherErrors(() => {
      const out = translateDsmC(args)
      expect(out.every((arg) => typeof arg === 'string')).toBe(true)
    })), PARAMS)
  }, TIMEOUT_MS)

  it('translateDsaControl: a tether argv of strings, or a usage error', () => {
    fc.assert(fc.property(argv, (args) => onlyTetherErrors(() => {
      const out = translateDsaControl(args)
      expect(out.every((arg) => typeof arg === 'string')).toBe(true)
    })), PARAMS)
  }, TIMEOUT_MS)
})
