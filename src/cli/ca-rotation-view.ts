import type {RotationStatus} from '../manager/ca-rotation.js'
import {printable} from './render.js'

/** The human form of `manager ca rotate` results: phase, CAs, progress, and what each next step would strand. */
export function rotationLines(status: RotationStatus): string[] {
  const lines = [`CA rotation: ${status.phase === 'none' ? 'not under way' : status.phase}`]
  lines.push(`Issuing CA:  SHA-256 ${status.issuing.sha256} (valid until ${status.issuing.notAfter})`)
  if (status.old && status.new) {
    lines.push(`Old CA:      SHA-256 ${status.old.sha256}`, `New CA:      SHA-256 ${status.new.sha256}`, `Prepared:    ${status.preparedAt}${status.activatedAt ? `, activated ${status.activatedAt}` : ''}`)
    lines.push(`Computers:   ${status.computers.onNewCa} of ${status.computers.activated} on the new CA; ${status.computers.contactedSincePrepare} contacted since prepare (they hold both CAs)`)
  }

  for (const step of status.steps) {
    const strands = step.wouldStrand.length === 0 ? 'strands nothing' : `would strand ${step.wouldStrand.length}: ${step.wouldStrand.map((c) => `${c.id} (${printable(c.hostname)})`).join(', ')}`
    lines.push(`Next: ${step.step} (to ${step.to}) ${strands}${step.tokensEnded.length > 0 ? `; ends ${step.tokensEnded.length} enrolment token(s): ${step.tokensEnded.join(', ')}` : ''}`)
  }

  for (const c of status.needsReactivation) lines.push(`Needs reactivation: computer ${c.id} (${printable(c.hostname)}): ${printable(c.command)}`)
  return lines
}
