import type crypto from 'node:crypto'

/** What a manager node holds itself: its own certificate and key, and the CA certificate. */
export interface NodeCredentials {
  caCertPem: string
  caCert: crypto.X509Certificate
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

/** The installation's signing and TLS material, loaded and cross-checked from the manager home (and, on PostgreSQL, its database). */
export interface ManagerCredentials extends NodeCredentials {
  caKey: crypto.KeyObject
  caKeyPem: string
}
