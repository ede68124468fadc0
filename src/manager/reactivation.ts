import {HttpSession} from '../channel/http-session.js'
import {TetherError} from '../errors.js'
import {fingerprint} from '../pki/inspect.js'
import {HostInfo} from '../protocol/commands.js'
import {ManagerContext, advertisedHeartbeatAddress, command, issueAgentCertificate, recordableHostInfo} from './activation.js'
import {Computer, recordActivation} from './computers.js'
import {newGuid} from './registry.js'
import {getSettings} from './settings.js'

/**
 * Reactivating an agent that holds a valid certificate of this CA the registry cannot place:
 * 'unknown' (no record of it, e.g. a registry restored from an older backup) or 'cloned' (its
 * certificate belongs to another computer: the agent reports another hostname). Each has its own
 * setting; when allowed, the agent is re-keyed over the mutual session and recorded as a new
 * computer, leaving the original untouched.
 */

export type ReactivationCase = 'unknown' | 'cloned'

export async function reactivateAsNewComputer(manager: ManagerContext, session: HttpSession, why: ReactivationCase, options: {address?: string; displayName?: string; original?: Computer} = {}): Promise<Computer> {
  const {db, credentials} = manager
  const settings = getSettings(db)
  const allowed = why === 'unknown' ? settings.allowReactivateUnknown : settings.allowReactivateCloned
  if (!allowed) {
    throw why === 'unknown'
      ? new TetherError('refused', 'unknown-agent', 'the agent holds a certificate from this CA that the registry has no record of, and reactivation of unknown agents is off', {
          hint: 'allow it (tether manager settings set allowReactivateUnknown true), or reset the agent (`dsa_control -r`) and activate it again',
        })
      : new TetherError('refused', 'cloned-agent', `the agent presents the certificate of computer ${options.original?.id} (${options.original?.hostname}) from another host: a cloned agent, and reactivation of clones is off`, {
          hint: 'reset the clone (`dsa_control -r`) and activate it as a new computer, or allow it (tether manager settings set allowReactivateCloned true)',
        })
  }

  const hostInfo = await command<HostInfo>(session, 'GetHostInfo')
  const guid = newGuid()
  const {csr} = await command<{csr: string}>(session, 'GenerateAgentCSR', {rekey: true, commonName: hostInfo.hostname})
  const issued = await issueAgentCertificate(db, credentials, csr, guid, hostInfo.hostname)
  const reply = await command<{certificateSha256: string}>(session, 'SetAgentCredentials', {
    rekey: true,
    certificate: issued.pem,
    communication: {heartbeatSeconds: settings.heartbeatIntervalSeconds, ...(advertisedHeartbeatAddress(db) && options.address ? {managerAddress: advertisedHeartbeatAddress(db)} : {})},
  })
  const sha256 = fingerprint(issued.certificate)
  if (reply.certificateSha256 !== sha256) throw new TetherError('trust', 'rekey-not-confirmed', 'the agent did not install the new certificate')
  return recordActivation(db, {
    guid,
    hostname: hostInfo.hostname,
    displayName: options.displayName,
    address: options.address,
    mode: options.original?.mode ?? 'bidirectional',
    hostInfo: {...recordableHostInfo(hostInfo), reactivated: why},
    certSerial: issued.certificate.serialNumber.toUpperCase(),
    certSha256: sha256,
  })
}
