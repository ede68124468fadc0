import {TetherError} from '../errors.js'

/** Clock skew between an agent and the manager, checked at activation (and by handshake inspect). */

export const DEFAULT_MAX_CLOCK_SKEW_MS = 24 * 60 * 60 * 1000

/** Refuse when the agent's reported clock is further than `maxSkewMs` from the manager's. */
export function checkClockSkew(agentClock: string, managerNow: Date, maxSkewMs: number): void {
  const agentTime = Date.parse(agentClock)
  if (Number.isNaN(agentTime)) throw new TetherError('usage', 'bad-clock', 'the agent reported no valid clock')
  const skew = agentTime - managerNow.getTime()
  if (Math.abs(skew) > maxSkewMs) {
    const hours = (Math.abs(skew) / 3_600_000).toFixed(1)
    throw new TetherError('refused', 'clock-skew', `the agent's clock is ${hours} hours ${skew > 0 ? 'ahead of' : 'behind'} the manager's (allowed: ${(maxSkewMs / 3_600_000).toFixed(1)} hours)`, {
      hint: 'fix the clock on the agent (or the manager) with NTP, then activate again',
    })
  }
}
