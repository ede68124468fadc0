import type crypto from 'node:crypto'

import {fingerprint} from '../../pki/certificate.js'
import type {AgentMaterial} from '../perspective.js'
import type {AgentAnswer, Verdict} from '../types.js'
import type {Evidence, Judgement} from './evidence.js'

/**
 * The binding (ds_agent_dsm.crt): as the agent, does the peer present exactly the bound manager's
 * certificate? As anyone else, did the agent (which enforces it) accept us?
 */
export function bindingVerdict({perspective, peer, connection}: Evidence): Judgement {
  const verdict = perspective.as === 'agent' && perspective.agent ? boundManager(perspective.agent, peer) : agentAccepts(connection.answer)
  if (verdict.status !== 'fail') return {verdict}
  return {verdict, failure: {stage: perspective.as === 'agent' ? 'verification' : 'agent-answer', reason: verdict.code, message: verdict.detail}}
}

function boundManager(agent: AgentMaterial, peer: crypto.X509Certificate | undefined): Verdict {
  if (!agent.dsm) return {status: 'skip', code: 'not-bound', detail: `no ds_agent_dsm.crt in ${agent.dsaCore}: this agent is not bound and would accept any manager for activation`}
  if (peer?.raw.equals(agent.dsm.raw)) {
    return {status: 'pass', code: 'matches', detail: `the peer presents exactly the ds_agent_dsm.crt certificate (SHA-256 ${fingerprint(agent.dsm)})`}
  }

  return {
    status: 'fail',
    code: 'bound-to-other-manager',
    detail: `this agent is bound to the manager with certificate SHA-256 ${fingerprint(agent.dsm)}; the peer presents ${peer ? fingerprint(peer) : 'no certificate'}`,
  }
}

function agentAccepts(answer: AgentAnswer | undefined): Verdict {
  if (!answer) return {status: 'skip', code: 'not-checked', detail: 'the binding lives on the agent: only a tether agent that answers GetHostInfo can say whether it accepts us'}
  if (answer.error?.code === 'bound-to-other-manager') return {status: 'fail', code: 'bound-to-other-manager', detail: answer.error.message}
  if (answer.status !== 200) return {status: 'skip', code: 'not-checked', detail: `the agent did not answer GetHostInfo (${answer.error?.message ?? 'no answer'})`}
  if (answer.state === 'pre-activated') return {status: 'pass', code: 'bound-to-us', detail: 'the agent is bound to this manager (ds_agent_dsm.crt is our certificate): it accepted us'}
  if (answer.state === 'activated') return {status: 'skip', code: 'activated', detail: 'the agent is activated: its manager and CA certificates now decide, not a binding'}
  return {status: 'skip', code: 'not-bound', detail: 'the agent is not bound: any manager may activate it (bind it with `tether agent bind ds_agent_dsm.crt` to restrict that)'}
}
