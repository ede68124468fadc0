import type crypto from 'node:crypto'

import {TetherError} from '../errors.js'
import {CertificateSummary, issuedBy, parseCertificate, subjectAttribute, summarize} from '../pki/certificate.js'
import {finishRetire, readRotation, removeRotation, writeNextCa, writeRotation} from './ca-rotation-files.js'
import type {ManagerContext} from './context.js'
import {type ManagerHome, createCa} from './home.js'
import {renewManagerCertificate} from './manager-renewal.js'
import type {Computer} from './store/store.js'

/**
 * CA rotation, in phases an operator steps through and can step back from until retire:
 * - prepare: a new CA (same name, new key) and its certificate cross-signed by the old CA. Both
 *   are trusted; agents are given both at their next contact. The old CA still issues.
 * - activate: the new CA issues; the manager's own certificate is re-issued from it and presented
 *   with the cross-signed certificate, so an agent that still holds only the old CA (or a token
 *   pinned to it) reaches the manager; each agent is renewed onto the new CA at its next contact.
 * - retire: the old CA is dropped. Refused while computers would be stranded, unless forced; the
 *   forced ones are marked for reactivation and listed with the command to run.
 * - rollback: one phase back (active to prepared: the old CA issues again and agents move back as
 *   they contact; prepared to none: refused while any computer still holds a new-CA certificate).
 */

export type RotationPhase = 'none' | 'prepared' | 'active'

export interface AffectedComputer {
  id: number
  hostname: string
  address: string | null
  /** Which CA issued the certificate it holds, as the registry knows it. */
  certificateCa: 'old' | 'new' | 'unknown'
  reason: string
}

export interface RotationStep {
  step: 'prepare' | 'activate' | 'retire' | 'rollback'
  /** What the step would do to the phase. */
  to: RotationPhase
  wouldStrand: AffectedComputer[]
  /** Enrolment tokens the step ends (they pin the old CA). */
  tokensEnded: string[]
}

export interface RotationStatus {
  phase: RotationPhase
  issuing: CertificateSummary
  old?: CertificateSummary
  new?: CertificateSummary
  preparedAt?: string
  activatedAt?: string
  computers: {activated: number; onNewCa: number; contactedSincePrepare: number}
  /** The computers not on the new CA yet (during a rotation). */
  pending: AffectedComputer[]
  /** The steps open from here, each with what it would strand. */
  steps: RotationStep[]
  /** Computers a forced retire left behind: reactivate each (on it: dsa_control -r, then dsa_control -a). */
  needsReactivation: Array<{id: number; hostname: string; command: string}>
}

function refuseOnNodes(home: ManagerHome): void {
  if (home.isNode()) {
    throw new TetherError('refused', 'ca-rotation-on-postgres', 'CA rotation is not available yet on an installation of several manager nodes (PostgreSQL)', {
      hint: 'rotate on an embedded home, or keep the CA (it is valid for 20 years from `manager init`); see the README, "CA rotation"',
    })
  }
}

/** Each activated computer with the CA its current certificate is from. */
async function computersByCa(ctx: ManagerContext, all: Computer[]): Promise<Array<{computer: Computer; ca: 'old' | 'new' | 'unknown'}>> {
  const rotation = ctx.credentials.rotation
  const out: Array<{computer: Computer; ca: 'old' | 'new' | 'unknown'}> = []
  for (const computer of all) {
    if (!['activated', 'deactivation-pending'].includes(computer.state)) continue
    const pem = computer.certSha256 ? await ctx.store.certificates.pem(computer.certSha256) : undefined
    const cert = pem ? parseCertificate(pem, `the certificate of computer ${computer.id}`) : undefined
    const ca = !cert || !rotation ? 'unknown' : issuedBy(cert, rotation.next) ? 'new' : issuedBy(cert, rotation.current) ? 'old' : 'unknown'
    out.push({computer, ca})
  }

  return out
}

function affected(computer: Computer, ca: 'old' | 'new' | 'unknown', reason: string): AffectedComputer {
  return {id: computer.id, hostname: computer.hostname, address: computer.address, certificateCa: ca, reason}
}

async function liveTokens(ctx: ManagerContext): Promise<string[]> {
  const now = ctx.now().getTime()
  return (await ctx.store.tokens.list())
    .filter((t) => !t.revokedAt && (!t.expiresAt || Date.parse(t.expiresAt) > now) && (t.usesAllowed === null || t.uses < t.usesAllowed))
    .map((t) => t.id)
}

function reactivationCommand(computer: Computer, managerUrl: string): string {
  return `on ${computer.hostname}: dsa_control -r && dsa_control -a ${managerUrl}${computer.address ? ` (or dsa_control -r there, then tether manager activate ${computer.address})` : ''}`
}

async function managerUrl(ctx: ManagerContext): Promise<string> {
  const listening = await ctx.store.meta.get('listening_address')
  return `dsm://${listening ?? 'MANAGER:4120'}/`
}

export async function rotationStatus(ctx: ManagerContext): Promise<RotationStatus> {
  const {credentials} = ctx
  const rotation = credentials.rotation
  const phase: RotationPhase = rotation?.phase ?? 'none'
  const all = await ctx.store.computers.list()
  const computers = await computersByCa(ctx, all)
  const since = rotation ? Date.parse(rotation.preparedAt) : 0
  const pending = rotation ? computers.filter((c) => c.ca !== 'new').map((c) => affected(c.computer, c.ca, c.ca === 'old' ? 'holds a certificate of the old CA' : 'its certificate is not in the registry')) : []
  const onNew = computers.filter((c) => c.ca === 'new')
  const url = await managerUrl(ctx)
  const steps: RotationStep[] = []
  if (phase === 'none') steps.push({step: 'prepare', to: 'prepared', wouldStrand: [], tokensEnded: []})
  if (phase === 'prepared') {
    steps.push({step: 'activate', to: 'active', wouldStrand: [], tokensEnded: []})
    steps.push({step: 'rollback', to: 'none', wouldStrand: onNew.map((c) => affected(c.computer, c.ca, 'holds a certificate of the new CA, which rollback drops (it moves back at its next contact)')), tokensEnded: []})
  }

  if (phase === 'active') {
    steps.push({step: 'retire', to: 'none', wouldStrand: pending.map((c) => ({...c, reason: `${c.reason}: it would need reactivation`})), tokensEnded: await liveTokens(ctx)})
    steps.push({step: 'rollback', to: 'prepared', wouldStrand: [], tokensEnded: []})
  }

  return {
    phase,
    issuing: summarize(credentials.caCert),
    ...(rotation ? {old: summarize(rotation.current), new: summarize(rotation.next), preparedAt: rotation.preparedAt, ...(rotation.activatedAt ? {activatedAt: rotation.activatedAt} : {})} : {}),
    computers: {
      activated: computers.length,
      onNewCa: onNew.length,
      contactedSincePrepare: rotation ? computers.filter((c) => c.computer.lastSeenAt && Date.parse(c.computer.lastSeenAt) >= since).length : 0,
    },
    pending,
    steps,
    needsReactivation: all.filter((c) => c.state === 'reactivation-required').map((c) => ({id: c.id, hostname: c.hostname, command: reactivationCommand(c, url)})),
  }
}

/** The new CA: same name as the old (so the cross-signed certificate is self-issued and fits a path length of 0), a new key. */
async function newCaFor(old: crypto.X509Certificate, oldKeyPem: string): Promise<{certPem: string; keyPem: string; crossPem: string}> {
  // Lazy: pki/x509 loads only when certificates are issued.
  const {issueCertificate, VALIDITY_DAYS} = await import('../pki/x509.js')
  const rdn = (key: string) => subjectAttribute(old, key)
  const subject = {commonName: rdn('CN') ?? 'tether manager CA', ...(rdn('O') ? {organization: rdn('O')} : {}), ...(rdn('OU') ? {organizationalUnit: rdn('OU')} : {})}
  const next = await createCa('', undefined, subject)
  const publicKeyPem = parseCertificate(next.certPem, 'the new CA').publicKey.export({type: 'spki', format: 'pem'}).toString()
  // Valid while the old CA is: beyond it, nothing can lead to the old CA anyway.
  const crossPem = await issueCertificate({profile: 'ca', subject, publicKeyPem, issuerCertPem: old.toString(), signerKeyPem: oldKeyPem, validityDays: VALIDITY_DAYS.ca, notAfter: new Date(old.validTo)})
  return {certPem: next.certPem, keyPem: next.keyPem, crossPem}
}

/** Reload the home's credentials after a phase change, and re-issue the manager's own certificate when it is of the other CA. */
async function followPhase(home: ManagerHome, ctx: ManagerContext): Promise<void> {
  ctx.credentials = await home.credentials(ctx.store)
  const renewed = await renewManagerCertificate(home, ctx)
  if (renewed) ctx.credentials = renewed
}

function requirePhase(ctx: ManagerContext, wanted: RotationPhase, step: string): void {
  const phase = ctx.credentials.rotation?.phase ?? 'none'
  if (phase === wanted) return
  const next = {none: 'tether manager ca rotate prepare', prepared: 'tether manager ca rotate activate (or rollback)', active: 'tether manager ca rotate retire (or rollback)'}[phase]
  throw new TetherError('refused', 'ca-rotation-phase', `${step} needs a CA rotation ${wanted === 'none' ? 'not under way' : `in the ${wanted} phase`}; it is ${phase === 'none' ? 'not under way' : `in the ${phase} phase`}`, {
    hint: `next: ${next}; tether manager ca rotate status shows where it stands`,
  })
}

export async function prepareRotation(home: ManagerHome, ctx: ManagerContext): Promise<RotationStatus> {
  refuseOnNodes(home)
  finishInterruptedRetire(home)
  requirePhase(ctx, 'none', 'prepare')
  const next = await newCaFor(ctx.credentials.caCert, ctx.credentials.caKeyPem)
  writeNextCa(home.dir, next)
  // The phase last: until it is written, the new files are ignored.
  writeRotation(home.dir, {phase: 'prepared', preparedAt: ctx.now().toISOString()})
  await followPhase(home, ctx)
  ctx.log.info('ca-rotation-prepared', {next: summarize(ctx.credentials.rotation!.next).sha256})
  return rotationStatus(ctx)
}

export async function activateRotation(home: ManagerHome, ctx: ManagerContext): Promise<RotationStatus> {
  refuseOnNodes(home)
  requirePhase(ctx, 'prepared', 'activate')
  const rotation = ctx.credentials.rotation!
  writeRotation(home.dir, {phase: 'active', preparedAt: rotation.preparedAt, activatedAt: ctx.now().toISOString()})
  await followPhase(home, ctx)
  ctx.log.info('ca-rotation-activated', {issuing: summarize(ctx.credentials.caCert).sha256, manager: summarize(ctx.credentials.managerCert).sha256})
  return rotationStatus(ctx)
}

export interface RetireResult extends RotationStatus {
  stranded: AffectedComputer[]
  tokensEnded: string[]
}

export async function retireRotation(home: ManagerHome, ctx: ManagerContext, options: {force?: boolean} = {}): Promise<RetireResult> {
  refuseOnNodes(home)
  requirePhase(ctx, 'active', 'retire')
  const before = await rotationStatus(ctx)
  const {wouldStrand, tokensEnded} = before.steps.find((s) => s.step === 'retire')!
  if (wouldStrand.length > 0 && !options.force) {
    const named = wouldStrand.slice(0, 5).map((c) => `${c.id} (${c.hostname})`).join(', ')
    throw new TetherError('refused', 'retire-would-strand', `retiring the old CA now would strand ${wouldStrand.length} computer(s) that are not on the new CA yet: ${named}${wouldStrand.length > 5 ? ', ...' : ''}`, {
      hint: 'they move over at their next contact (tether manager computers renew --all --now reaches the ones the manager can contact); tether manager ca rotate status --json lists them; --force retires anyway and marks them for reactivation',
    })
  }

  // The manager's own certificate is of the new CA before the old one goes.
  await followPhase(home, ctx)
  for (const computer of wouldStrand) await ctx.store.computers.markReactivationRequired(computer.id)
  writeRotation(home.dir, {phase: 'retiring', preparedAt: ctx.credentials.rotation!.preparedAt})
  finishRetire(home.dir, {cert: home.file('caCert'), key: home.file('caKey')})
  ctx.credentials = await home.credentials(ctx.store)
  ctx.log.info('ca-rotation-retired', {ca: summarize(ctx.credentials.caCert).sha256, stranded: wouldStrand.length, tokensEnded: tokensEnded.length})
  return {...(await rotationStatus(ctx)), stranded: wouldStrand, tokensEnded}
}

export async function rollbackRotation(home: ManagerHome, ctx: ManagerContext): Promise<RotationStatus> {
  refuseOnNodes(home)
  const rotation = ctx.credentials.rotation
  if (!rotation) requirePhase(ctx, 'prepared', 'rollback')
  if (rotation!.phase === 'active') {
    writeRotation(home.dir, {phase: 'prepared', preparedAt: rotation!.preparedAt})
    await followPhase(home, ctx)
    ctx.log.info('ca-rotation-rolled-back', {to: 'prepared'})
    return rotationStatus(ctx)
  }

  const {wouldStrand} = (await rotationStatus(ctx)).steps.find((s) => s.step === 'rollback')!
  if (wouldStrand.length > 0) {
    throw new TetherError('refused', 'rollback-would-strand', `${wouldStrand.length} computer(s) still hold a certificate of the new CA: ${wouldStrand.slice(0, 5).map((c) => `${c.id} (${c.hostname})`).join(', ')}`, {
      hint: 'the old CA issues again, so each moves back at its next contact (tether manager computers renew --all --now for the ones the manager reaches); then roll back',
    })
  }

  // Back on the old CA's certificate first, while the new CA is still trusted.
  await followPhase(home, ctx)
  removeRotation(home.dir)
  ctx.credentials = await home.credentials(ctx.store)
  ctx.log.info('ca-rotation-rolled-back', {to: 'none'})
  return rotationStatus(ctx)
}

/** A retire a crash interrupted: finished by whoever finds it. */
export function finishInterruptedRetire(home: ManagerHome): void {
  if (home.isNode() || readRotation(home.dir)?.phase !== 'retiring') return
  finishRetire(home.dir, {cert: home.file('caCert'), key: home.file('caKey')})
}
