// The signature floor, measured in the same run: `openssl speed -seconds S rsa2048 rsa3072` (the key
// sizes in use: the CA's 3072, the manager's and agents' 2048), parsed from its output.
//
// What an activation costs the manager in RSA private-key operations (src/manager/manager-initiated.ts,
// activation.ts, issuance.ts; the agent's server requests a client certificate in both contexts):
//  - bootstrap handshake: the manager is TLS client with its certificate: 1 RSA-2048 signature
//    (CertificateVerify);
//  - the agent certificate: 1 RSA-3072 signature by the CA;
//  - the confirmation over mutual TLS: a new handshake, 1 RSA-2048 signature.
// The CRL is not signed per activation: currentCrl() issues one (1 RSA-3072 signature) only after
// a revocation or when half its validity has passed, neither of which an activation causes.
// Public-key operations (each ~30-60 µs): the CSR's signature and the agent's bootstrap
// CertificateVerify (RSA-2048), and in the confirmation the agent's CertificateVerify (RSA-2048)
// and its certificate's CA signature (RSA-3072). The handshake+GetHostInfo reference is one
// handshake: 1 RSA-2048 signature and 1 verification.
import {spawnSync} from 'node:child_process'

export const ACTIVATION_OPERATIONS = {sign: {2048: 2, 3072: 1}, verify: {2048: 3, 3072: 1}}
export const HANDSHAKE_OPERATIONS = {sign: {2048: 1}, verify: {2048: 1}}

// A contact over mutual TLS (src/manager/connections.ts openAgentConnection): one handshake, 1
// RSA-2048 signature (the manager's CertificateVerify), the agent's CertificateVerify (RSA-2048)
// and its certificate's CA signature (RSA-3072) verified.
export const MUTUAL_CONTACT_OPERATIONS = {sign: {2048: 1}, verify: {2048: 1, 3072: 1}}

// A manager-initiated renewal (src/manager/renewal.ts, contact.ts contactNow): the contact's
// handshake, the CSR's signature verified (RSA-2048), the certificate signed by the CA (RSA-3072),
// and the confirmation over a new mutual-TLS connection (as the contact's handshake). Superseding
// the old certificate is a revocation, so the next currentCrl() signs a CRL again (1 RSA-3072):
// counted from the CRLs the run actually issued (CRL_OPERATIONS each), not assumed here.
export const RENEWAL_OPERATIONS = {sign: {2048: 2, 3072: 1}, verify: {2048: 3, 3072: 2}}
export const CRL_OPERATIONS = {sign: {3072: 1}}

/** {2048: {signMs, verifyMs}, 3072: {...}, seconds, version}, or undefined (with the reason) where openssl is missing. */
export function measureSignatures(seconds) {
  const result = spawnSync('openssl', ['speed', '-seconds', String(seconds), 'rsa2048', 'rsa3072'], {encoding: 'utf8', timeout: 120_000})
  if (result.error || result.status !== 0) return {error: `openssl speed failed: ${result.error?.message ?? result.stderr.trim().split('\n').at(-1)}`}
  const floor = {seconds, version: spawnSync('openssl', ['version'], {encoding: 'utf8'}).stdout.trim()}
  // "rsa 2048 bits 0.000457s 0.000029s   2186.2  34143.6": seconds per sign and per verify.
  for (const match of result.stdout.matchAll(/^rsa\s+(\d+)\s+bits\s+([\d.]+)s\s+([\d.]+)s/gm)) {
    floor[match[1]] = {signMs: Number(match[2]) * 1000, verifyMs: Number(match[3]) * 1000}
  }

  if (!floor[2048] || !floor[3072]) return {error: `openssl speed printed no rsa 2048/3072 lines: ${result.stdout.trim().split('\n').slice(-3).join(' | ')}`}
  return floor
}

/** Cost in ms of `operations` ({sign: {bits: n}, verify: {bits: n}}) at the measured speeds: {signMs, allMs}. */
export function floorCost(floor, operations) {
  let signMs = 0
  let verifyMs = 0
  for (const [bits, n] of Object.entries(operations.sign ?? {})) signMs += n * floor[bits].signMs
  for (const [bits, n] of Object.entries(operations.verify ?? {})) verifyMs += n * floor[bits].verifyMs
  return {signMs, allMs: signMs + verifyMs}
}
