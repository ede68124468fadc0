import type crypto from 'node:crypto'

import type {HttpSession} from '../channel/http-session.js'
import {commonName, fingerprint} from '../pki/certificate.js'
import {recordableHostInfo} from './activation.js'
import type {ManagerContext} from './context.js'
import type {Computer} from './store/store.js'

/**
 * An activation cut off after the agent installed its credentials and before the registry recorded
 * the computer (the node running it died): the agent comes back over mutual TLS with a certificate
 * this CA issued for the name still reserved under the certificate's GUID. It is recorded now, as
 * the activation would have been, whichever node it reaches: never left half done. What the
 * activation request asked for beyond the name (group, policy) died with the node.
 */
export async function recoverActivation(ctx: ManagerContext, session: HttpSession, peer: crypto.X509Certificate): Promise<Computer | undefined> {
  const guid = commonName(peer)
  if (!guid) return undefined
  const reserved = (await ctx.store.computers.matching(guid)).find((computer) => computer.guid === guid && computer.state === 'activating')
  if (!reserved) return undefined
  const hostInfo = await session.command('GetHostInfo')
  const computer = await ctx.store.computers.recordActivation({
    guid,
    hostname: reserved.hostname,
    mode: 'bidirectional',
    hostInfo: recordableHostInfo(hostInfo),
    certSerial: peer.serialNumber.toUpperCase(),
    certSha256: fingerprint(peer),
  }, ctx.now())
  ctx.log.info('activation-recovered', {guid, hostname: reserved.hostname, certificateSha256: computer.certSha256 ?? undefined})
  return computer
}
