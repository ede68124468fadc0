import {parseHostPort} from '../channel/connect.js'
import {DEFAULT_AGENT_PORT, DEFAULT_MANAGER_PORT} from '../platform/paths.js'
import {type Perspective, loadPerspective} from './identity.js'
import {openRegistry} from './perspective.js'
import {type KeyLogSink, openKeyLog} from './probe/keylog.js'
import {type Target, probe} from './probe/probe.js'
import {assembleReport} from './report/report.js'
import {DEFAULT_SETTLE_MS, type InspectReport, type InspectRequest} from './types.js'
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
    return assembleReport(evidence, request, keyLog)
  } finally {
    keyLog?.close()
  }
}

/** HOST[:PORT]; the default port is the agent's, or the manager's heartbeat port when probing as an agent. */
function resolveTarget(text: string, perspective: Perspective): Target {
  const {host, port} = parseHostPort(text, perspective.as === 'agent' ? DEFAULT_MANAGER_PORT : DEFAULT_AGENT_PORT)
  return {host, port, where: `${host}:${port}`}
}
