import {classifyTlsError} from '../../channel/journal.js'
import {oneLineName} from '../../pki/certificate.js'
import {plainReason} from '../advice.js'
import type {Evidence, Finding, Judgement} from './evidence.js'
import {opensslOf} from './openssl.js'

/** Did the peer ask for our certificate, and accept it? (TLS 1.3 tells only after the handshake.) */
export function clientCertificateVerdict(evidence: Evidence, handshake: Finding | undefined): Judgement {
  const {snap, wire, perspective, sentOurs} = evidence
  const requested = wire?.certificateRequested
  const after = evidence.connection.after
  if (!snap) {
    if (!requested || handshake?.stage !== 'tls-handshake') return {verdict: {status: 'skip', code: 'no-handshake', detail: 'the handshake did not complete'}}
    return perspective.identity
      ? {verdict: {status: 'fail', code: handshake.reason, detail: 'the peer asked for a certificate and the handshake failed after we sent ours'}}
      : {verdict: {status: 'fail', code: 'no-client-certificate', detail: 'the peer asked for a certificate, we had none, and the handshake failed'}}
  }

  if (requested === false) return {verdict: {status: 'pass', code: 'not-requested', detail: 'the peer did not ask for a client certificate'}}
  if (after?.outcome === 'refused') return refused(evidence)
  if (after?.outcome === 'quiet') return {verdict: {status: 'pass', code: 'not-refused', detail: `the peer did not refuse ${sentOurs ? 'our certificate' : 'us'} within ${evidence.settleMs} ms`}}
  return sentOurs
    ? {verdict: {status: 'pass', code: 'accepted', detail: 'the peer asked for our certificate and accepted it'}}
    : {verdict: {status: 'pass', code: 'not-required', detail: requested ? 'the peer asked for a certificate but went on without one' : 'accepted without a client certificate'}}
}

/** The peer refused us after the handshake: why, as far as its alert or its CertificateRequest says. */
function refused({connection, wire, perspective, sentOurs, where}: Evidence): Judgement {
  const error = connection.after!.error
  const classified = error ? classifyTlsError(error).reason : undefined
  const ourIssuer = perspective.identity ? oneLineName(perspective.identity.certificate.issuer) : undefined
  // A peer that hangs up without an alert (tether's agent does) does not say why; the CA names
  // in its CertificateRequest often do.
  const acceptable = wire?.acceptableCAs ?? []
  const foreignToPeer = Boolean(sentOurs && ourIssuer && acceptable.length && !acceptable.includes(ourIssuer))
  const reason = classified && !['connection-reset', 'tls-error'].includes(classified) ? classified : !sentOurs ? 'no-client-certificate' : foreignToPeer ? 'unknown-ca' : 'peer-closed'
  const detail = !sentOurs
    ? 'the peer asked for a certificate, we sent none, and it refused us'
    : foreignToPeer
      ? `the peer refused our certificate after the handshake; it accepts certificates from ${acceptable.join('; ')}, ours is issued by ${ourIssuer}`
      : 'the peer refused our certificate after the handshake'
  return {
    verdict: {status: 'fail', code: reason, detail: error ? `${detail} (${error.reason ?? error.message.split('\n')[0]})` : detail},
    failure: {stage: 'client-certificate', reason, message: `${where} refused us after the handshake: ${plainReason(reason)}`, openssl: opensslOf(error)},
  }
}
