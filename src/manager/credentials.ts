import type crypto from 'node:crypto'

/** The installation's signing and TLS material, loaded and cross-checked from the manager home. */
export interface ManagerCredentials {
  caCertPem: string
  caKey: crypto.KeyObject
  caKeyPem: string
  caCert: crypto.X509Certificate
  managerCertPem: string
  managerKeyPem: string
  managerKey: crypto.KeyObject
  managerCert: crypto.X509Certificate
  /** The manager certificate before the last renewal, kept for agents bound to it. */
  previous?: {certPem: string; keyPem: string; cert: crypto.X509Certificate}
}
