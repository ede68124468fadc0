import type crypto from 'node:crypto'

/**
 * Roles in an installation's CA. Every agent holds a certificate of the same CA as the manager, so
 * "issued by our CA" cannot tell a manager from an agent: a manager certificate also carries the
 * manager role, an extended key usage only the CA grants (issuance sets extensions itself, never
 * from a CSR), and agents accept as their manager only a certificate that has it.
 */

/** tether's manager role: a private extended key usage, an OID under 2.25 (derived from a UUID, RFC 4122). */
export const MANAGER_ROLE_OID = '2.25.10326813036734044813373435100299546511'

/** The EKUs a manager certificate carries: TLS both ways, signing configurations (S/MIME style), and the role. */
export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
} as const

export type Role = 'manager' | 'agent'

export function hasManagerRole(certificate: crypto.X509Certificate): boolean {
  return certificate.keyUsage?.includes(MANAGER_ROLE_OID) ?? false
}

/** A certificate of the installation's CA is a manager's when it has the role, an agent's otherwise. */
export function roleOf(certificate: crypto.X509Certificate): Role {
  return hasManagerRole(certificate) ? 'manager' : 'agent'
}
