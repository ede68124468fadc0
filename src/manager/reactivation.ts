import type {HttpSession} from '../channel/http-session.js'
import {TetherError} from '../errors.js'
import {recordableHostInfo} from './activation.js'
import type {ManagerContext} from './context.js'
import {newGuid} from './guid.js'
import {issueAgentCertificate} from './issuance.js'
import {heartbeatCommunication} from './heartbeat-addresses.js'
import {getSettings} from './settings.js'
import type {Computer} from './store/store.js'

/**
 * Reactivating an agent that holds a valid certificate of this CA the registry cannot place:
 * 'unknown' (no record of it, e.g. a registry restored from an older backup) or 'cloned' (its
 * certificate belongs to another computer: the agent reports another hostname). Each has its own
 * setting; when allowed, the agent is re-keyed over the mutual session and recorded as a new
 * computer, leaving the original untouched.
 */

export type ReactivationCase = 'unknown' | 'cloned'

function refusal(why: ReactivationCase, original?: Computer): TetherError {
  return why === 'unknown'
    ? new TetherError('refused', 'unknown-agent', 'the agent holds a certificate from this CA that the registry has no record of, and reactivation of unknown agents is off', {
        hint: 'allow it (tether manager settings set allowReactivateUnknown true), or reset the agent (`dsa_control -r`) and activate it again',
      })
    : new TetherError('refused', 'cloned-agent', `the agent presents the certificate of computer ${original?.id} (${original?.hostname}) from another host: a cloned agent, and reactivation of clones is off`, {
        hint: 'reset the clone (`dsa_control -r`) and activate it as a new computer, or allow it (tether manager settings set allowReactivateCloned true)',
      })
}

export async function reactivateAsNewComputer(ctx: ManagerContext, session: HttpSession, why: ReactivationCase, options: {address?: string; displayName?: string; original?: Computer} = {}): Promise<Computer> {
  const settings = await getSettings(ctx.store)
  const allowed = why === 'unknown' ? settings.allowReactivateUnknown : settings.allowReactivateCloned
  if (!allowed) throw refusal(why, options.original)

  const hostInfo = await session.command('GetHostInfo')
  const guid = newGuid()
  const {csr} = await session.command('GenerateAgentCSR', {rekey: true, commonName: hostInfo.hostname})
  const issued = await issueAgentCertificate(ctx, csr, guid)
  const heartbeat = await heartbeatCommunication(ctx)
  const reply = await session.command('SetAgentCredentials', {
    rekey: true,
    certificate: issued.pem,
    communication: {heartbeatSeconds: settings.heartbeatIntervalSeconds, ...(heartbeat.managerAddress && options.address ? heartbeat : {})},
  })
  if (reply.certificateSha256 !== issued.sha256) throw new TetherError('trust', 'rekey-not-confirmed', 'the agent did not install the new certificate')
  return ctx.store.computers.recordActivation({
    guid,
    hostname: hostInfo.hostname,
    displayName: options.displayName,
    address: options.address,
    mode: options.original?.mode ?? 'bidirectional',
    hostInfo: {...recordableHostInfo(hostInfo), reactivated: why},
    certSerial: issued.serial,
    certSha256: issued.sha256,
    certNotBefore: issued.notBefore,
    certNotAfter: issued.notAfter,
  }, ctx.now())
}
