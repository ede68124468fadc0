import {describe, expect, it} from 'vitest'

import {LruCache} from '../src/platform/lru-cache.js'

describe('LruCache', () => {
  it('keeps at most max entries, the least recently used going first', () => {
    const cache = new LruCache<string, number>(2)
    cache.set('a', 1)
    cache.set('b', 2)
    expect(cache.get('a')).toBe(1) // a is now the newest
    cache.set('c', 3) // b goes
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')).toBe(1)
    expect(cache.get('c')).toBe(3)
    cache.set('a', 4) // replacing a kept key evicts nothing
    expect(cache.get('c')).toBe(3)
    expect(cache.get('a')).toBe(4)
  })

  it('keeps false as a value (a verdict)', () => {
    const cache = new LruCache<string, boolean>(1)
    cache.set('x', false)
    expect(cache.get('x')).toBe(false)
  })
})
