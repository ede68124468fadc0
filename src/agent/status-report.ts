import {proxyView, readProxySettings} from './proxy-settings.js'
import {selfProtectionStatus} from './self-protection.js'
import type {AgentStatus, DsaCore} from './store.js'

/** `tether agent status`: the state, the proxy settings (never a password) and self-protection. */
export function agentStatusReport(store: DsaCore): AgentStatus & {proxy: ReturnType<typeof proxyView>; selfProtection: ReturnType<typeof selfProtectionStatus>} {
  return {...store.status(), proxy: proxyView(readProxySettings(store)), selfProtection: selfProtectionStatus(store)}
}
