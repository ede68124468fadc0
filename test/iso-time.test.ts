import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {isoString} from '../src/platform/iso-time.js'

describe('isoString', () => {
  const native = (ms: number) => {
    try {
      return new Date(ms).toISOString()
    } catch (error) {
      return `throws ${(error as Error).name}`
    }
  }

  const ours = (ms: number) => {
    try {
      return isoString(ms)
    } catch (error) {
      return `throws ${(error as Error).name}`
    }
  }

  it('is new Date(ms).toISOString() at the edges: the epoch, leap days, century years, the last four-digit year, beyond, invalid', () => {
    const edges = [0, 1, 999, 1000, 86_399_999, 86_400_000, Date.UTC(2000, 1, 29), Date.UTC(2100, 1, 28, 23, 59, 59, 999), Date.UTC(2100, 2, 1), Date.UTC(2400, 1, 29),
      Date.UTC(1970, 11, 31, 23, 59, 59, 999), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10_000, 0, 1), -1, -0, 0.5, 1.999, -0.5, 8.64e15, 8.64e15 + 1, -8.64e15, NaN, Infinity, -Infinity]
    for (const ms of edges) expect(ours(ms), String(ms)).toBe(native(ms))
  })

  it('is new Date(ms).toISOString() for any time (property)', () => {
    fc.assert(fc.property(fc.oneof(fc.integer({min: 0, max: 253_402_300_799_999}), fc.double({min: -9e15, max: 9e15})), (ms) => {
      expect(ours(ms)).toBe(native(ms))
    }), {numRuns: 20_000})
  })
})
