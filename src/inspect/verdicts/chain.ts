import {oneLineName} from '../../pki/certificate.js'
import {plainReason} from '../advice.js'
import type {Evidence, Judgement} from './evidence.js'
import {verifyCode, verifyLocally} from './openssl.js'

/** Our own judgement of the peer's certificate: does its chain verify to the CA we trust? */
export function chainVerdict({peer, snap, kind, chain, perspective, where, now}: Evidence): Judgement {
  if (!peer) {
    if (!snap) return {verdict: {status: 'skip', code: 'no-handshake', detail: 'no certificate captured'}}
    return {verdict: {status: 'fail', code: 'no-certificate', detail: 'the peer sent no certificate'}, failure: {stage: 'verification', reason: 'no-certificate', message: `${where} sent no certificate`}}
  }

  if (kind === 'bootstrap') return {verdict: {status: 'skip', code: 'bootstrap-certificate', detail: 'the shipped bootstrap certificate authenticates nothing by design; trust is established at activation'}}
  const anchor = perspective.anchor
  if (!anchor) return {verdict: {status: 'skip', code: 'no-anchor', detail: 'no CA to verify against: give --home (the manager) or --dsa-core of an activated agent'}}
  const anchorName = oneLineName(anchor.certificate.subject)
  // Node's verdict when the handshake completed; when it failed, the same checks made here.
  const code = snap ? (snap.authorized ? undefined : snap.authorizationError) : verifyLocally(chain, anchor.certificate, now)
  if (!code) return {verdict: {status: 'pass', code: 'verified', detail: `verifies to ${anchorName}`}}
  const {reason, openssl} = verifyCode(code)
  return {
    verdict: {status: 'fail', code: reason, detail: `does not verify to ${anchorName}: ${plainReason(reason)} (${openssl?.code})`},
    failure: snap ? {stage: 'verification', reason, message: `${where} presents a certificate that does not verify to ${anchorName}: ${plainReason(reason)}`, openssl} : undefined,
  }
}
