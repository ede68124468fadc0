import fc from 'fast-check'

import {TetherError} from '../src/errors.js'

/**
 * Shared pieces of the property-based tests of the parsers that read untrusted bytes. The property
 * is always the same: a parser returns, or fails with a TetherError (the clear error an operator
 * sees); never another exception, never a hang, never unbounded memory. `npm test` runs a short
 * round (FUZZ_RUNS unset: RUNS each); `npm run fuzz` sets FUZZ_RUNS for a long one.
 */

export const RUNS = Number(process.env.FUZZ_RUNS ?? 300)
/** The vitest timeout for one property: proportional to the runs asked for. */
export const TIMEOUT_MS = Math.max(60_000, RUNS * 100)
/** Longer than any honest parse of these small inputs takes, even on a loaded machine. */
export const MAX_PARSE_MS = 2000

/** Run `parse`: true when it returned or threw a TetherError; anything else fails the property. */
export function onlyTetherErrors(parse: () => unknown): true {
  const started = performance.now()
  try {
    parse()
  } catch (error) {
    if (!(error instanceof TetherError)) throw error
  }

  const took = performance.now() - started
  if (took > MAX_PARSE_MS) throw new Error(`the parse took ${Math.round(took)} ms`)
  return true
}

export async function onlyTetherErrorsAsync(parse: () => Promise<unknown>): Promise<true> {
  try {
    await parse()
  } catch (error) {
    if (!(error instanceof TetherError)) throw error
  }

  return true
}

/** fc.assert parameters; async properties also get a per-run time limit, so a hang fails the run. */
export const PARAMS: fc.Parameters<unknown> = {numRuns: RUNS}
export const ASYNC_PARAMS: fc.Parameters<unknown> = {numRuns: RUNS, timeout: MAX_PARSE_MS * 5}

/** `buffer` changed the ways a hostile peer or a damaged file changes bytes. */
export const mutation = (buffer: Buffer) =>
  fc.oneof(
    // flip bytes
    fc.array(fc.tuple(fc.nat(buffer.length - 1), fc.integer({min: 0, max: 255})), {minLength: 1, maxLength: 8}).map((flips) => {
      const out = Buffer.from(buffer)
      for (const [at, value] of flips) out[at] = value
      return out
    }),
    // cut short
    fc.nat(buffer.length).map((end) => buffer.subarray(0, end)),
    // a slice inserted or removed
    fc.tuple(fc.nat(buffer.length), fc.uint8Array({maxLength: 64})).map(([at, extra]) => Buffer.concat([buffer.subarray(0, at), Buffer.from(extra), buffer.subarray(at)])),
    fc.tuple(fc.nat(buffer.length), fc.nat(64)).map(([at, length]) => Buffer.concat([buffer.subarray(0, at), buffer.subarray(at + length)])),
  )

/** Random DER-shaped trees: plausible tags and lengths, nested, so parsers get past the first byte. */
export const derTree: fc.Arbitrary<Buffer> = fc.letrec<{node: Buffer}>((tie) => ({
  node: fc.oneof(
    {depthSize: 'small', withCrossShrink: true},
    fc.tuple(fc.constantFrom(0x02, 0x04, 0x05, 0x06, 0x80, 0x81, 0x82), fc.uint8Array({maxLength: 40})).map(([tag, value]) => tlv(tag, Buffer.from(value))),
    fc.tuple(fc.constantFrom(0x30, 0x31, 0xa0, 0xa1, 0xa2, 0xa3, 0x24), fc.array(tie('node'), {maxLength: 4})).map(([tag, items]) => tlv(tag, Buffer.concat(items))),
  ),
})).node

function tlv(tag: number, value: Buffer): Buffer {
  const length = value.length < 0x80 ? Buffer.from([value.length]) : value.length < 0x100 ? Buffer.from([0x81, value.length]) : Buffer.from([0x82, value.length >> 8, value.length & 0xff])
  return Buffer.concat([Buffer.from([tag]), length, value])
}
