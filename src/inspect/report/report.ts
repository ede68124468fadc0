import path from 'node:path'

import {TetherError} from '../../errors.js'
import {fingerprint, oneLineName} from '../../pki/certificate.js'
import {FAILURE_CLASS, likelyFix} from '../advice.js'
import type {PeerKind} from '../perspective.js'
import type {KeyLogSink} from '../probe/keylog.js'
import type {InspectFailure, InspectReport, InspectRequest, Verdict, VerdictName} from '../types.js'
import {bindingVerdict} from '../verdicts/binding.js'
import {chainVerdict} from '../verdicts/chain.js'
import {clientCertificateVerdict} from '../verdicts/client-certificate.js'
import {clockVerdict} from '../verdicts/clock.js'
import type {Evidence, Finding} from '../verdicts/evidence.js'
import {handshakeFailure} from '../verdicts/handshake.js'
import {revocationVerdict} from '../verdicts/revocation.js'
import {certificateDetail} from './certificate-detail.js'

/** The report: what was seen, every verdict, and the first failure with its likely fix. */

const KIND_DESCRIPTIONS: Record<PeerKind, string> = {
  bootstrap: 'the shipped bootstrap certificate: an unactivated (or pre-activated) tether agent',
  'own-agent': "an agent certificate issued by this manager's CA",
  'own-manager': "this manager's certificate",
  foreign: "foreign: not issued by this manager's CA",
  unknown: 'unknown: no manager home or activated dsa_core to compare it with',
  none: 'no certificate',
}

/** The verdicts in the order their failures count: the first failure found is the one reported. */
function judge(evidence: Evidence): {verdicts: Record<VerdictName, Verdict>; failure?: Finding} {
  const handshake = handshakeFailure(evidence)
  const clientCertificate = clientCertificateVerdict(evidence, handshake)
  const chain = chainVerdict(evidence)
  const revocation = revocationVerdict(evidence)
  const binding = bindingVerdict(evidence)
  const clock = clockVerdict(evidence)
  const failure = handshake ?? [clientCertificate, chain, revocation, binding, clock].find((judgement) => judgement.failure)?.failure
  return {verdicts: {chain: chain.verdict, binding: binding.verdict, revocation: revocation.verdict, clientCertificate: clientCertificate.verdict, clock: clock.verdict}, failure}
}

export function assembleReport(evidence: Evidence, request: InspectRequest, keyLog: KeyLogSink | undefined): InspectReport {
  const {perspective, where} = evidence
  const {verdicts, failure} = judge(evidence)
  const report: InspectReport = {
    target: where,
    as: perspective.as,
    asSource: perspective.asSource,
    presented: perspective.identity ? {subject: oneLineName(perspective.identity.certificate.subject), sha256: fingerprint(perspective.identity.certificate), source: perspective.identity.source} : undefined,
    trust: {managerHome: perspective.manager?.dir, dsaCore: perspective.agent?.dsaCore, agentState: perspective.agent?.state, anchor: perspective.anchor ? `${oneLineName(perspective.anchor.certificate.subject)} (${perspective.anchor.source})` : undefined},
    handshake: handshakeSection(evidence, request.servername),
    peer: peerSection(evidence),
    clientCertificate: clientCertificateSection(evidence, verdicts.clientCertificate),
    agentAnswer: evidence.connection.answer,
    verdicts,
    ok: !failure && Object.values(verdicts).every((v) => v.status !== 'fail'),
    keylog: keyLog ? {file: path.resolve(keyLog.file), lines: keyLog.lines} : undefined,
  }
  if (failure) report.failure = withFix(failure, perspective.as, where)
  return report
}

function handshakeSection({snap, wire, connection}: Evidence, servername: string | undefined): InspectReport['handshake'] {
  return {
    completed: Boolean(snap),
    protocol: snap?.protocol ?? wire?.version,
    cipher: snap?.cipher?.name,
    cipherStandardName: snap?.cipher?.standardName,
    keyExchange: snap?.keyExchange,
    alpn: snap ? snap.alpn ?? false : undefined,
    resumed: snap?.resumed,
    sessionTickets: connection.sessionTickets,
    servername,
  }
}

function peerSection({snap, wire, chain, kind, now}: Evidence): InspectReport['peer'] {
  const sent = wire?.peerCertificates
  const chainSource = snap?.chain.length ? 'tls' : chain.length ? 'wire' : 'none'
  return {kind, description: KIND_DESCRIPTIONS[kind], chainSource, chain: chain.map((cert, depth) => certificateDetail(cert, depth, now, sent))}
}

function clientCertificateSection({wire, snap, sentOurs}: Evidence, verdict: Verdict): InspectReport['clientCertificate'] {
  return {
    requested: wire?.certificateRequested,
    acceptableCAs: wire?.acceptableCAs,
    sent: sentOurs,
    accepted: sentOurs ? Boolean(snap) && verdict.status === 'pass' : undefined,
  }
}

function withFix(finding: Finding, as: InspectReport['as'], where: string): InspectFailure {
  return {...finding, fix: likelyFix(finding.stage, finding.reason, as, where)}
}

/** The error a failed inspection exits with (its class fixes the exit code). */
export function inspectError(report: InspectReport): TetherError | undefined {
  if (report.ok) return undefined
  const failure = report.failure ?? {stage: 'verification' as const, reason: 'verdict-failed', message: 'a verdict failed', fix: 'see the verdicts above'}
  return new TetherError(FAILURE_CLASS[failure.stage], failure.reason, failure.message, {hint: failure.fix, details: {stage: failure.stage, ...(failure.openssl ? {openssl: failure.openssl} : {})}})
}
