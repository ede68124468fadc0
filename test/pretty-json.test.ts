import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {JsonFields, prettyJson} from '../src/cli/pretty-json.js'

// prettyJson and JsonFields stand in for JSON.stringify(_, null, 2) in the listing: compared with
// it on values of every kind, at several depths (a nested value is JSON.stringify's text indented
// to its place).

class Point {
  constructor(readonly x: number) {}
}

const VALUES: unknown[] = [
  null, true, false, 0, -0, 1.5, -2e-7, 1e21, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity,
  '', 'plain', 'with "quotes" and \\', 'line\nend\r\t', '\u0000\u001F\u007F\u0080', 'é😀', 'lone \uD800', '\uDC00 reversed \uD83D', '\u2028\u2029',
  [], {}, [[]], [{}], [1, 'a', null, undefined, () => 1, [2, [3]]],
  {a: 1, b: undefined, c: () => 1, d: Symbol('s'), e: null, f: [undefined]},
  JSON.parse('{"__proto__": {"x": 1}, "2": "two", "1": "one", "k": {"nested": {"deep": [{"deeper": {}}]}}}'),
  Object.assign(Object.create(null), {z: 1, a: {b: 2}}),
  {date: new Date(Date.UTC(2027, 0, 2)), point: new Point(3), withToJson: {toJSON: () => ({replaced: true})}, toJsonNotAFunction: {toJSON: 'text'}},
  new Date(0), new Point(1), Object.assign([1, 2], {extra: 'ignored'}),
]

describe('prettyJson', () => {
  it('is JSON.stringify(value, null, 2) where the value stands `depth` levels deep', () => {
    for (const value of VALUES) {
      for (const depth of [0, 1, 3]) {
        const indent = '  '.repeat(depth)
        const expected = JSON.stringify(value, null, 2)?.replaceAll('\n', `\n${indent}`)
        expect(prettyJson(value, depth), `${String(JSON.stringify(value))} at ${depth}`).toBe(expected)
      }
    }
  })

  it('is JSON.stringify for any value of data: any UTF-16 code units in keys and strings, any number, nesting (property)', () => {
    const text = fc.string({unit: fc.integer({min: 0, max: 0xffff}).map((unit) => String.fromCharCode(unit)), maxLength: 12})
    const {value} = fc.letrec((tie) => ({
      value: fc.oneof({depthSize: 'small'}, fc.constant(null), fc.constant(undefined), fc.boolean(), fc.double(), fc.integer(), text, tie('array'), tie('object')),
      array: fc.array(tie('value'), {maxLength: 5}),
      object: fc.dictionary(text, tie('value'), {maxKeys: 6}),
    }))
    fc.assert(
      fc.property(value, fc.integer({min: 0, max: 4}), (data, depth) => {
        expect(prettyJson(data, depth)).toBe(JSON.stringify(data, null, 2)?.replaceAll('\n', `\n${'  '.repeat(depth)}`))
      }),
      {numRuns: 3000},
    )
  })

  it('leaves out what JSON.stringify leaves out, and throws where it throws', () => {
    for (const value of [undefined, () => 1, Symbol('s')]) expect(prettyJson(value, 2)).toBeUndefined()
    expect(() => prettyJson(1n, 0)).toThrow(TypeError)
    const cycle: Record<string, unknown> = {}
    cycle.self = {again: cycle}
    expect(() => prettyJson(cycle, 0)).toThrow(/circular/)
  })

  it('holds for values nested deeper than it prints itself', () => {
    let deep: unknown = {end: ['x']}
    for (let i = 0; i < 40; i++) deep = i % 2 ? {level: i, next: deep} : [i, deep]
    expect(prettyJson(deep, 1)).toBe(JSON.stringify(deep, null, 2).replaceAll('\n', '\n  '))
  })
})

describe('JsonFields', () => {
  it('spread: the text of {...a, ...b, ...c} (first place of a key, last value)', () => {
    const cases: object[][] = [
      [{a: 1, b: 2, c: 3}, {b: 'B', d: 4}, {e: 5, a: 'A'}],
      [{}, {}],
      [{a: undefined}, {a: 1}],
      [{a: 1, b: 2}, {a: undefined}],
      [{x: {nested: [1, {y: 'é\n'}]}}, {z: null, x: {over: true}}],
      [{id: 7, hostInfo: {k: 'v'}, heartbeatIntervalSeconds: null, missedHeartbeats: null}, {presence: 'online', heartbeatIntervalSeconds: 600, missedHeartbeats: 2, offlineAfter: 'T'}, {certificate: null, configuration: {applied: {policy: null}}}],
    ]
    const fields = new JsonFields(2)
    for (const parts of cases) {
      const merged = Object.assign({}, ...parts)
      fields.spread(parts)
      expect(fields.end(), JSON.stringify(parts)).toBe(JSON.stringify(merged, null, 2).replaceAll('\n', '\n    '))
    }
  })

  it('spread: one writer for parts of changing keys, orders and inherited keys', () => {
    const inherited = Object.assign(Object.create({b: 'inherited'}), {a: 1})
    const sequence: object[][] = [
      [{a: 1, b: 2}, {b: 3, c: 4}],
      [{a: 5, b: 6}, {b: 7, c: 8}],
      [{b: 6, a: 5}, {b: 7, c: 8}],
      [{a: 5}, {b: 7, c: 8}],
      [inherited, {b: 7, c: 8}],
      [inherited, {c: 8}],
      [{a: 1, b: 2}, {b: undefined, c: 4}],
      [{a: 1, b: 2}, {b: 3, c: 4}, {a: 'last'}],
      [{a: 1, b: 2}, {b: 3, c: 4}],
    ]
    const fields = new JsonFields(1)
    for (const parts of sequence) {
      fields.spread(parts)
      expect(fields.end(), JSON.stringify(parts)).toBe(JSON.stringify(Object.assign({}, ...parts), null, 2).replaceAll('\n', '\n  '))
    }
  })

  it('field by field, the writer empty again after each object', () => {
    const fields = new JsonFields(0)
    expect(fields.end()).toBe('{}')
    fields.field('a', 1)
    fields.field('skipped', undefined)
    fields.field('b "quoted"', ['x'])
    expect(fields.end()).toBe(JSON.stringify({a: 1, skipped: undefined, 'b "quoted"': ['x']}, null, 2))
    fields.field('c', null)
    expect(fields.end()).toBe(JSON.stringify({c: null}, null, 2))
  })
})
