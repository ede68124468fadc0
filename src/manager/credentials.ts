import type crypto from 'node:crypto'

/** What a manager node holds itself: its own certificate and key, and the CA certificates. */
export interface NodeCredentials {
  /** The CA that issues: the installation's one, or during a rotation's active phase the new one. */
  caCertPem: string
  caCert: crypto.X509Certificate
  /** Every CA the manager trusts, the issuing one first: one, or two during a CA rotation. */
  trustedCas: crypto.X509Certificate[]
  trustedCasPem: string
  /**
   * What the manager presents behind its certificate: the CA that issued it, or during a rotation
   * the new CA cross-signed by the old one and the old one, so an agent that holds only the old CA
   * (and an enrolment token pinned to it) still finds its way.
   */
  chainPem: string
  /** The CA the presented chain ends at: what a new enrolment token pins. */
  anchorCa: crypto.X509Certificate
  rotation?: CaRotationView
  managerCertPem: string
  managerKeyPem: string
  managerKey: crypto.KeyObject
  managerCert: crypto.X509Certificate
  /** The manager certificate before the last renewal, kept for agents bound to it. */
  previous?: {certPem: string; keyPem: string; cert: crypto.X509Certificate}
  /**
   * On PostgreSQL, the installation's binding identity: the certificate `export-cert` hands out,
   * which every node can present to an agent bound to it (its key sealed in the database).
   */
  binding?: {certPem: string; keyPem: string; cert: crypto.X509Certificate}
}

export type CaRotationPhase = 'prepared' | 'active'

/** A CA rotation under way: the installation's CA so far, and the one replacing it. */
export interface CaRotationView {
  phase: CaRotationPhase
  preparedAt: string
  activatedAt?: string
  current: crypto.X509Certificate
  next: crypto.X509Certificate
}

/** The installation's signing and TLS material, loaded and cross-checked from the manager home (and, on PostgreSQL, its database). */
export interface ManagerCredentials extends NodeCredentials {
  caKey: crypto.KeyObject
  caKeyPem: string
  /** Every trusted CA with its key, the issuing one first: each signs a CRL, so a peer's chain to either checks. */
  crlSigners: Array<{cert: crypto.X509Certificate; key: crypto.KeyObject}>
}
