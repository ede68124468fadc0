import {TetherError} from '../errors.js'
import {MANAGER_HOME_ENV, resolveDsaCore, resolveManagerHome} from '../platform/paths.js'
import {type AgentMaterial, type Credential, type Identity, type ManagerMaterial, agentIdentity, loadAgent, loadManager, managerHomeExists} from './perspective.js'
import type {InspectRequest, ProbeIdentity} from './types.js'

/** Who the probe is (the identity it presents) and what it trusts (the CA the peer must verify to). */

export interface Perspective {
  as: ProbeIdentity
  asSource: string
  identity?: Identity
  manager?: ManagerMaterial
  agent?: AgentMaterial
  anchor?: Credential
}

/**
 * The default identity: the manager when --home is given, an agent when --dsa-core is given,
 * else the manager when a manager home is found ($TETHER_MANAGER_HOME or the per-user default),
 * else anonymous.
 */
export function defaultIdentity(request: Pick<InspectRequest, 'home' | 'dsaCore' | 'env'>): {as: ProbeIdentity; source: string} {
  const env = request.env ?? process.env
  if (request.home) return {as: 'manager', source: 'default: --home given'}
  if (request.dsaCore) return {as: 'agent', source: 'default: --dsa-core given'}
  const home = resolveManagerHome(undefined, env)
  if (managerHomeExists(home)) return {as: 'manager', source: `default: manager home found at ${home}${env[MANAGER_HOME_ENV] ? ` ($${MANAGER_HOME_ENV})` : ''}`}
  return {as: 'anonymous', source: 'default: no manager home found'}
}

export function loadPerspective(request: InspectRequest): Perspective {
  const chosen = request.as ? {as: request.as, source: '--as'} : defaultIdentity(request)
  if (chosen.as === 'manager' && request.dsaCore) {
    throw new TetherError('usage', 'conflicting-flags', '--dsa-core applies to --as agent or --as anonymous, not --as manager', {
      hint: 'drop --dsa-core, or probe with --as agent',
    })
  }

  const manager = wantsManager(chosen.as, request) ? loadManager(resolveManagerHome(request.home, request.env ?? process.env)) : undefined
  const agent = chosen.as === 'agent' || request.dsaCore ? loadAgent(resolveDsaCore(request.dsaCore, {env: request.env ?? process.env})) : undefined
  const identity = chosen.as === 'manager' ? manager!.identity : chosen.as === 'agent' ? agentIdentity(agent!) : undefined
  return {as: chosen.as, asSource: chosen.source, identity, manager, agent, anchor: trustAnchor(chosen.as, manager, agent)}
}

/**
 * The manager's material is required as the manager; otherwise used when given (or, anonymous,
 * found), to classify the peer, verify its chain to the CA and look up revocation.
 */
function wantsManager(as: ProbeIdentity, request: InspectRequest): boolean {
  if (as === 'manager' || request.home) return true
  return as === 'anonymous' && managerHomeExists(resolveManagerHome(undefined, request.env ?? process.env))
}

/** The CA the peer's chain must verify to: the agent's stored CA when probing as the agent (or with no manager), else the manager's. */
function trustAnchor(as: ProbeIdentity, manager: ManagerMaterial | undefined, agent: AgentMaterial | undefined): Credential | undefined {
  if (agent?.ca && (as === 'agent' || !manager)) return agent.ca
  return manager?.ca
}
