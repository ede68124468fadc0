import type {StoreContext} from './context.js'
import {Settings, getSettings} from './settings.js'

/**
 * Settings that leave the installation open, said wherever an operator looks (`manager show`,
 * `manager settings list`, `manager start`): each is allowed, none is silent.
 */

export interface PostureWarning {
  code: string
  message: string
  hint: string
}

/** A token is required once one is configured: the classic shared secret, or any live enrolment token. */
export function tokenRequired(settings: Settings, liveTokens: number): boolean {
  return settings.activationToken !== '' || liveTokens > 0
}

export async function postureWarnings(ctx: StoreContext): Promise<PostureWarning[]> {
  const settings = await getSettings(ctx.store)
  const warnings: PostureWarning[] = []
  if (settings.agentInitiatedActivation !== 'off' && !tokenRequired(settings, await ctx.store.tokens.live(ctx.now()))) {
    warnings.push({
      code: 'open-enrolment',
      message: 'agent-initiated activation is on and needs no token: anyone who can reach the heartbeat port can enrol an agent',
      hint: 'create enrolment tokens (tether manager tokens create) or set activationToken, or turn it off (agentInitiatedActivation off)',
    })
  }

  if (settings.duplicateNamePolicy === 'reactivate') {
    warnings.push({
      code: 'takeover-by-name',
      message: 'duplicateNamePolicy is reactivate (classic 3): a host that names itself like an existing computer takes over that computer',
      hint: 'set duplicateNamePolicy new (classic 2) unless every agent on the network is trusted',
    })
  }

  return warnings
}
