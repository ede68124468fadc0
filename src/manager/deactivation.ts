import {TetherError} from '../errors.js'
import type {ManagerContext} from './activation.js'
import {Computer, findComputer} from './computers.js'
import {contactNow} from './contact.js'
import {queueOperation, queuedOperations} from './operations.js'
import {revokeCertificate} from './revocation.js'

/**
 * Deactivation: the agent is told to clear its credentials, configuration and binding (Deactivate),
 * and its certificate is revoked. A reachable agent is done at once; otherwise the computer is
 * "deactivation pending" (its certificate still good for exactly that last contact) and finished
 * at its next contact, or removed with force, revoked regardless.
 */

export interface DeactivationResult {
  computer: Computer
  outcome: 'deactivated' | 'deactivation-pending' | 'removed'
  revoked: boolean
  reason?: string
}

export async function deactivate(manager: ManagerContext, ref: string, options: {force?: boolean} = {}): Promise<DeactivationResult> {
  const {db} = manager
  const computer = findComputer(db, ref)
  if (computer.state === 'deactivated') {
    throw new TetherError('refused', 'already-deactivated', `computer ${computer.id} is already deactivated`, {hint: 'remove it with --force, or reactivate the agent'})
  }

  db.transaction(() => {
    db.prepare("UPDATE computers SET state = 'deactivation-pending' WHERE id = ?").run(computer.id)
    if (!queuedOperations(db, computer.id).some((op) => op.command === 'Deactivate')) queueOperation(db, computer.id, 'Deactivate', {})
  })()

  const pending = findComputer(db, String(computer.id))
  const contact = computer.state === 'activated' ? await contactNow(manager, pending) : {contacted: false, reason: `the computer is ${computer.state}`}
  const after = findComputer(db, String(computer.id))
  if (after.state === 'deactivated') return {computer: after, outcome: 'deactivated', revoked: true}

  if (options.force) {
    finishDeactivation(manager, after, {remove: true})
    return {computer: after, outcome: 'removed', revoked: Boolean(after.certSha256), reason: contact.reason}
  }

  return {computer: after, outcome: 'deactivation-pending', revoked: false, reason: contact.reason}
}

/** Revoke the computer's certificate and mark it deactivated (or delete its record). */
export function finishDeactivation(manager: ManagerContext, computer: Computer, options: {remove?: boolean} = {}): void {
  const {db} = manager
  db.transaction(() => {
    if (computer.certSha256) revokeCertificate(db, computer.certSha256, 'cessationOfOperation')
    db.prepare("UPDATE operations SET state = 'failed', result = '\"cancelled: computer deactivated\"' WHERE computer_id = ? AND state = 'queued'").run(computer.id)
    if (options.remove) db.prepare('DELETE FROM computers WHERE id = ?').run(computer.id)
    else db.prepare("UPDATE computers SET state = 'deactivated' WHERE id = ?").run(computer.id)
  })()
}
