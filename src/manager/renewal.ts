import type {HttpSession} from '../channel/http-session.js'
import {TetherError} from '../errors.js'
import {failpoint} from '../platform/failpoint.js'
import type {ManagerContext} from './context.js'
import {issueAgentCertificate} from './issuance.js'
import {currentCrl} from './revocation.js'
import {getSettings} from './settings.js'
import type {Computer, RenewedCertificate} from './store/store.js'

/**
 * Agent certificate renewal, at a contact in either direction once the certificate is past its
 * renewal point: the agent makes a new key pair (it never leaves the agent) and a CSR, the CA signs
 * it, the agent installs it, and only when the agent presents it on a new mutual-TLS connection does
 * it become the computer's certificate and the old one superseded. Until then both work, so a crash
 * on either side at any step leaves the agent a working identity, and the next contact finishes or
 * retries.
 */

/**
 * Issue and install a renewed certificate over this session; it is confirmed later
 * (`confirmRenewal`). Undefined when another contact (the other direction, another node) started a
 * renewal meanwhile: that one goes on, this contact sends nothing.
 */
export async function renewCertificate(ctx: ManagerContext, session: HttpSession, computer: Computer): Promise<RenewedCertificate | undefined> {
  const {csr} = await session.command('GenerateAgentCSR', {renew: true})
  const issued = await issueAgentCertificate(ctx, csr, computer.guid, {computerId: computer.id})
  // A renewal sent before that the agent never took is not revoked here: a crash or a race may
  // have left it installed after all. Whichever the agent presents wins; the rest go then.
  if (!(await ctx.store.computers.beginRenewal(computer.id, issued.sha256, {current: computer.certSha256, renewal: computer.renewalSha256}))) {
    ctx.log.info('certificate-renewal-skipped', {computer: computer.id, hostname: computer.hostname, reason: 'another contact renewed it, or is renewing it'})
    return undefined
  }

  failpoint('manager-renewal:issued')
  const {renewAfter} = await getSettings(ctx.store)
  const reply = await session.command('SetAgentCredentials', {renew: true, certificate: issued.pem, crl: (await currentCrl(ctx)).pem, communication: {renewAfter}})
  if (reply.certificateSha256 !== issued.sha256) throw new TetherError('trust', 'renewal-not-installed', `the agent of computer ${computer.id} did not install its renewed certificate`)
  failpoint('manager-renewal:installed')
  ctx.log.info('certificate-renewal-sent', {computer: computer.id, hostname: computer.hostname, sha256: issued.sha256, notAfter: issued.notAfter})
  return {sha256: issued.sha256, serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.notAfter}
}

/** The agent presents a certificate issued for it since its current one: it becomes the computer's, the others superseded. */
export async function confirmRenewal(ctx: ManagerContext, computer: Computer, presented: RenewedCertificate): Promise<boolean> {
  failpoint('manager-renewal:before-confirm')
  const done = await ctx.store.computers.finishRenewal(computer.id, presented, ctx.now())
  if (done) ctx.log.info('certificate-renewed', {computer: computer.id, hostname: computer.hostname, sha256: presented.sha256, previousSha256: computer.certSha256 ?? undefined, notAfter: presented.notAfter})
  return done
}
