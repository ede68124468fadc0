import {parseHostPort} from '../channel/address.js'
import {DEFAULT_AGENT_PORT, DEFAULT_MANAGER_PORT} from '../platform/paths.js'
import {type Perspective, loadPerspective} from './identity.js'
import {agentCrl, openRegistry} from './perspective.js'
import {type KeyLogSink, openKeyLog} from './probe/keylog.js'
import {type Target, probe} from './probe/probe.js'
import {assembleReport} from './report/report.js'
import {type CrlStanding, DEFAULT_SETTLE_MS, type InspectReport, type InspectRequest} from './types.js'
import {gatherEvidence} from './verdicts/evidence.js'

/**
 * `tether handshake inspect`: connect to any TLS endpoint as the manager, as an agent or as
 * nobody, and say what happened in tether's terms.
 */

export {defaultIdentity} from './identity.js'
export {inspectError} from './report/report.js'
export * from './types.js'

export async function inspectEndpoint(request: InspectRequest): Promise<InspectReport> {
  const now = request.now ?? new Date()
  const perspective = loadPerspective(request)
  const target = resolveTarget(request.target, perspective)
  const keyLog: KeyLogSink | undefined = request.keylog ? openKeyLog(request.keylog) : undefined
  try {
    const connection = await probe(target, perspective, request, keyLog)
    const evidence = gatherEvidence({perspective, connection, where: target.where, now, settleMs: request.settleMs ?? DEFAULT_SETTLE_MS})
    evidence.registry = perspective.manager ? await openRegistry(perspective.manager, evidence.peer) : undefined
    const report = assembleReport(evidence, request, keyLog)
    const crl = crlStanding(evidence.registry?.crl ? {...evidence.registry.crl, source: 'the manager registry'} : perspective.agent ? agentCrl(perspective.agent) : undefined, now)
    return crl ? {...report, trust: {...report.trust, crl}} : report
  } finally {
    keyLog?.close()
  }
}

function crlStanding(crl: {number: number; thisUpdate: string; nextUpdate?: string; source: string} | undefined, now: Date): CrlStanding | undefined {
  if (!crl) return undefined
  return {...crl, ...(crl.nextUpdate ? {daysLeft: Math.floor((Date.parse(crl.nextUpdate) - now.getTime()) / 86_400_000)} : {})}
}

/** HOST[:PORT]; the default port is the agent's, or the manager's heartbeat port when probing as an agent. */
function resolveTarget(text: string, perspective: Perspective): Target {
  const {host, port} = parseHostPort(text, perspective.as === 'agent' ? DEFAULT_MANAGER_PORT : DEFAULT_AGENT_PORT)
  return {host, port, where: `${host}:${port}`}
}
