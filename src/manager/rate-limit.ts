/**
 * Failed activation attempts, counted per source address and overall over the last minute, on this
 * manager node. Past the limit a source is refused without its credentials being checked until its
 * oldest failure leaves the window (the cooldown), so guessing a token costs a minute per few tries.
 * Sites behind one proxy or NAT share an address: the limits are settings. With several listener
 * processes (`manager start --workers N`) each tells the others its failures (through the primary),
 * so the limits stay the node's, not N times them.
 */

export const WINDOW_MS = 60_000

export interface FailureLimits {
  perSource: number
  total: number
}

export class FailureLimiter {
  private readonly bySource = new Map<string, number[]>()
  private all: number[] = []

  /** Told each failure counted here (the listener workers share them). */
  onFail?: (source: string, at: number) => void

  constructor(private readonly limits: () => FailureLimits) {}

  /** Whether `source` may be heard now; if not, when it may again. */
  check(source: string, now: number): {allowed: true} | {allowed: false; retryAfterMs: number; scope: 'source' | 'total'} {
    const limits = this.limits()
    const mine = this.recent(source, now)
    this.all = this.all.filter((t) => t > now - WINDOW_MS)
    if (mine.length >= limits.perSource) return {allowed: false, retryAfterMs: mine[0] + WINDOW_MS - now, scope: 'source'}
    if (this.all.length >= limits.total) return {allowed: false, retryAfterMs: this.all[0] + WINDOW_MS - now, scope: 'total'}
    return {allowed: true}
  }

  fail(source: string, now: number): void {
    this.record(source, now)
    this.onFail?.(source, now)
  }

  /** A failure counted by another listener process of this node. */
  record(source: string, at: number): void {
    this.bySource.set(source, [...this.recent(source, at), at].sort((a, b) => a - b))
    this.all.push(at)
    this.all.sort((a, b) => a - b)
  }

  private recent(source: string, now: number): number[] {
    const kept = (this.bySource.get(source) ?? []).filter((t) => t > now - WINDOW_MS)
    if (kept.length === 0) this.bySource.delete(source)
    else this.bySource.set(source, kept)
    return kept
  }
}
