import type crypto from 'node:crypto'

/** The installation's signing and TLS material, loaded and cross-checked from the manager home. */
export interface ManagerCredentials {
  caCertPem: string
  caKey: crypto.KeyObject
  caKeyPem: string
  caCert: crypto.X509Certificate
  managerCertPem: string
  managerKeyPem: string
  managerCert: crypto.X509Certificate
}
