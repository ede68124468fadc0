import type crypto from 'node:crypto'

import {bootstrapIdentity} from './bootstrap.js'
import {issuedBy} from './certificate.js'
import {hasManagerRole} from './roles.js'

/**
 * What a peer's certificate is in tether's terms, seen from one installation: the shipped bootstrap
 * certificate (an unactivated agent), one of our manager certificates, an agent certificate our CA
 * issued, or anything else.
 */

export type PeerKind = 'bootstrap' | 'own-agent' | 'own-manager' | 'foreign'

export interface TrustAnchors {
  /** The installation's CAs: one, or two during a CA rotation. */
  cas: crypto.X509Certificate[]
  /** The manager certificates of this installation. */
  managers: crypto.X509Certificate[]
}

export function classifyPeer(cert: crypto.X509Certificate | undefined, trust: TrustAnchors): PeerKind {
  if (!cert) return 'foreign'
  if (isBootstrapCertificate(cert)) return 'bootstrap'
  if (trust.managers.some((manager) => cert.raw.equals(manager.raw))) return 'own-manager'
  if (!trust.cas.some((ca) => issuedBy(cert, ca))) return 'foreign'
  // Issued by our CA: a manager's (another node, a renewed one) only with the role, else an agent's.
  return hasManagerRole(cert) ? 'own-manager' : 'own-agent'
}

export function isBootstrapCertificate(cert: crypto.X509Certificate | undefined): boolean {
  // By SHA-256 of the DER: the same answer as comparing the DER, and the fingerprint is one each
  // peer certificate computes anyway (its DER is not otherwise taken out of OpenSSL).
  return cert !== undefined && cert.fingerprint256 === bootstrapIdentity().certificate.fingerprint256
}
