import {fingerprint} from '../../pki/certificate.js'
import {plainReason} from '../advice.js'
import type {Verdict} from '../types.js'
import type {Evidence, Judgement} from './evidence.js'

/** Is the peer's agent certificate one this manager issued, and not revoked? */
export function revocationVerdict(evidence: Evidence): Judgement {
  const verdict = revocation(evidence)
  if (verdict.status !== 'fail' || !evidence.snap) return {verdict}
  const what = plainReason(verdict.code).replace(/^the certificate is /, '')
  return {verdict, failure: {stage: 'verification', reason: verdict.code, message: `${evidence.where} presents a certificate that is ${what}`}}
}

function revocation({peer, kind, registry}: Evidence): Verdict {
  if (!peer || kind !== 'own-agent') return {status: 'skip', code: 'not-issued-here', detail: 'revocation applies to agent certificates this manager issued'}
  if (!registry) return {status: 'skip', code: 'no-registry', detail: 'revocation is recorded in the manager registry: give --home to check it'}
  const record = registry.certificate(fingerprint(peer))
  if (!record) return {status: 'fail', code: 'not-in-registry', detail: "issued by this manager's CA, but the registry has no record of the certificate"}
  if (record.revokedAt) return {status: 'fail', code: 'revoked', detail: `revoked on ${record.revokedAt}${record.reason ? ` (${record.reason})` : ''}`}
  return {status: 'pass', code: 'not-revoked', detail: 'issued by this manager and not revoked'}
}
