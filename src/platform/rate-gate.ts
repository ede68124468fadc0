/**
 * At most `perWindow` occurrences of each key recorded in full per window; the rest are only
 * counted, and told once, as a summary, when their window ends (or at `flush`). A flood then
 * costs a bounded number of records however long it lasts.
 */

export interface GateSummary {
  key: string
  /** Occurrences counted but not recorded in full. */
  suppressed: number
  from: Date
  to: Date
}

interface Window {
  startedAt: number
  passed: number
  suppressed: number
  lastAt: number
  timer?: NodeJS.Timeout
}

export class RateGate {
  private readonly windows = new Map<string, Window>()

  constructor(
    private readonly options: {perWindow: number; windowMs: number; onSummary(summary: GateSummary): void; now?: () => number},
  ) {}

  /** True when this occurrence may be recorded in full; false when it was only counted. */
  pass(key: string): boolean {
    const now = this.options.now?.() ?? Date.now()
    let window = this.windows.get(key)
    if (window && now - window.startedAt >= this.options.windowMs) {
      this.end(key, window)
      window = undefined
    }

    if (!window) {
      window = {startedAt: now, passed: 0, suppressed: 0, lastAt: now}
      this.windows.set(key, window)
    }

    window.lastAt = now
    if (window.passed < this.options.perWindow) {
      window.passed++
      return true
    }

    window.suppressed++
    // The summary must come even if the flood stops here: a timer ends the window on time.
    window.timer ??= setTimeout(() => this.end(key, window), Math.max(0, window.startedAt + this.options.windowMs - now)).unref()
    return false
  }

  /** Tell every open window's suppressed count now (before shutting down). */
  flush(): void {
    for (const [key, window] of this.windows) this.end(key, window)
  }

  private end(key: string, window: Window): void {
    if (this.windows.get(key) !== window) return
    this.windows.delete(key)
    if (window.timer) clearTimeout(window.timer)
    if (window.suppressed > 0) this.options.onSummary({key, suppressed: window.suppressed, from: new Date(window.startedAt), to: new Date(window.lastAt)})
  }
}
