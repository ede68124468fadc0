import type {FailureClass} from '../errors.js'
import type {FailureStage, ProbeIdentity} from './types.js'

/** What to tell the operator: a reason code in plain words, and the likely fix for a failure. */

const PLAIN_REASONS: Record<string, string> = {
  'connection-refused': 'the connection was refused (nothing listening)',
  timeout: 'timed out',
  'no-client-certificate': 'the peer requires a client certificate and we sent none',
  'unknown-ca': 'the certificate is not issued by a CA the other side trusts',
  untrusted: 'the certificate does not verify to the trusted CA',
  'self-signed': 'the certificate is self-signed and not trusted',
  expired: 'the certificate has expired',
  'not-yet-valid': 'the certificate is not valid yet',
  revoked: 'the certificate is revoked',
  'not-in-registry': 'the certificate is unknown to the manager registry',
  'protocol-version': 'no TLS version in common (tether needs TLS 1.2 or later)',
  'no-shared-cipher': 'no cipher suite in common',
  'bad-certificate': 'a certificate was rejected',
  'bad-signature': 'a certificate signature does not verify',
  'connection-reset': 'the peer reset the connection',
  'peer-closed': 'the peer closed the connection right after the handshake',
  'bound-to-other-manager': 'the agent is bound to another manager',
  'clock-skew': 'the clocks are too far apart',
  'no-certificate': 'the peer sent no certificate',
}

export function plainReason(reason: string): string {
  return Object.hasOwn(PLAIN_REASONS, reason) ? PLAIN_REASONS[reason] : reason
}

/** The exit class of each stage: unreachable (6) for no connection, trust (5) for everything after. */
export const FAILURE_CLASS: Record<FailureStage, FailureClass> = {
  'tcp-connect': 'unreachable',
  'tls-handshake': 'trust',
  'client-certificate': 'trust',
  verification: 'trust',
  'agent-answer': 'trust',
}

interface Situation {
  /** We refuse the peer (verification), rather than the peer refusing us. */
  weRefuse: boolean
  as: ProbeIdentity
  where: string
}

function wrongManager({weRefuse, as}: Situation): string {
  if (weRefuse && as === 'agent') return 'wrong manager: the peer is not the manager this agent was activated by; point the agent at its own manager, or reset it (`dsa_control -r`) and activate it again'
  if (weRefuse) return 'wrong manager: the peer holds a certificate from another CA; if it is an agent activated by another manager, deactivate it there or reset it (`dsa_control -r`), then activate it from this one'
  if (as === 'agent') return 'wrong manager: the peer does not trust this agent\'s CA, so it is not the manager that activated this agent; connect to that manager, or reset the agent (`dsa_control -r`) and activate it from this one'
  return 'the peer does not trust our certificate\'s CA (it belongs to another manager): reset the agent (`dsa_control -r`) and activate it from this manager, or probe as its own manager'
}

const reactivate = () => 'this agent\'s certificate is no longer good on this manager: reset the agent (`dsa_control -r`) and activate it again'
const malformed = () => 'a certificate was rejected as malformed or badly signed: re-export the manager certificate, or reset the agent and activate it again'
const hungUp = () => 'the peer hung up: if it is a tether agent, its journal says why (`tether handshake log --dsa-core DIR`); otherwise it may not speak TLS on this port'

const FIXES: Record<string, (situation: Situation) => string> = {
  'connection-refused': ({where}) => `nothing is listening at ${where}: start the agent (\`tether agent start\`) or the manager there, or check the address and port`,
  timeout: ({where}) => `${where} did not answer in time: check the address, the port and any firewall between here and there`,
  unreachable: ({where}) => `check the address ${where} and that it resolves and is routable from here`,
  'no-client-certificate': () => 'the peer requires a client certificate (an activated agent, or a manager\'s heartbeat port): probe as the manager (--as manager --home DIR) or as its agent (--as agent --dsa-core DIR)',
  'unknown-ca': wrongManager,
  untrusted: wrongManager,
  'self-signed': ({weRefuse}) => weRefuse
    ? 'the peer presents a self-signed certificate that is not tether\'s: it is not a tether agent or manager (wrong address or port?)'
    : 'the peer refuses our self-signed certificate: present a certificate issued by its manager\'s CA',
  expired: () => 'a certificate has expired: if the dates look wrong, fix the clock (NTP) on the side that is off; otherwise reset the agent (`dsa_control -r`) and activate it again for a new certificate',
  'not-yet-valid': () => 'clock skew: a certificate is not valid yet by one side\'s clock; fix the clock (NTP) on this machine or the peer',
  'clock-skew': () => 'clock skew: fix the clock on the agent (or this machine) with NTP, then activate again',
  revoked: reactivate,
  'not-in-registry': reactivate,
  'bound-to-other-manager': ({as}) => as === 'agent'
    ? 'not the bound manager: connect to the manager whose certificate is in ds_agent_dsm.crt, or bind again (`tether agent bind ds_agent_dsm.crt`) with this manager\'s exported certificate'
    : 'the agent is bound to another manager: activate it from that manager, or clear the binding explicitly (`tether agent reset --unbind`)',
  'protocol-version': () => 'the peer does not speak TLS 1.2 or later with tether\'s policy: it is not a tether agent or manager, or it needs upgrading',
  'no-shared-cipher': () => 'no forward-secret AEAD cipher suite in common with tether\'s policy: reconfigure or upgrade the peer',
  'bad-certificate': malformed,
  'bad-signature': malformed,
  'no-certificate': () => 'the peer sent no certificate: it is not a tether agent or manager',
  'peer-closed': hungUp,
  'connection-reset': hungUp,
}

const DEFAULT_FIX = 'see the OpenSSL error above; `tether handshake log` on the peer records its side of the handshake'

export function likelyFix(stage: FailureStage, reason: string, as: ProbeIdentity, where: string): string {
  const fix = Object.hasOwn(FIXES, reason) ? FIXES[reason] : undefined
  return fix ? fix({weRefuse: stage === 'verification', as, where}) : DEFAULT_FIX
}
