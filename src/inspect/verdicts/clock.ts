import {DEFAULT_CLOCK_SKEW_MS, clockSkewProblem} from '../perspective.js'
import type {Evidence, Judgement} from './evidence.js'

const NOT_CHECKED = {status: 'skip', code: 'not-checked', detail: 'only a tether agent reports its clock'} as const

/** Is the agent's clock (from GetHostInfo) within what the manager allows at activation? */
export function clockVerdict({connection, registry, now}: Evidence): Judgement {
  const clock = connection.answer?.clock
  if (!clock) return {verdict: NOT_CHECKED}
  // The manager's own setting when there is a registry to read it from; the default otherwise.
  const problem = clockSkewProblem(clock, now, registry?.maxClockSkewMs() ?? DEFAULT_CLOCK_SKEW_MS)
  if (problem?.code === 'bad-clock') return {verdict: NOT_CHECKED}
  if (problem) return {verdict: {status: 'fail', code: problem.code, detail: problem.message}, failure: {stage: 'agent-answer', reason: problem.code, message: problem.message}}
  const hours = (Math.abs(Date.parse(clock) - now.getTime()) / 3_600_000).toFixed(1)
  return {verdict: {status: 'pass', code: 'in-sync', detail: `the agent's clock is within ${hours} hours of this machine's`}}
}
