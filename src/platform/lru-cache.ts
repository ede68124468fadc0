/**
 * A Map bounded to `max` entries, the least recently used going first: for values that are pure
 * functions of their key (a parsed certificate by its DER, a TLS context by its PEMs, a signature
 * verdict by the two certificates), kept because the hot path asks for the same ones again.
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>()

  constructor(private readonly max: number) {}

  /** The value, now the most recently used; undefined when not kept. */
  get(key: K): V | undefined {
    const value = this.entries.get(key)
    if (value !== undefined) {
      // A Map iterates in insertion order: put back, it is the newest.
      this.entries.delete(key)
      this.entries.set(key, value)
    }

    return value
  }

  set(key: K, value: V): void {
    this.entries.delete(key)
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!)
    this.entries.set(key, value)
  }
}
