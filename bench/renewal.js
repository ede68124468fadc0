// PLACE RESERVED: renewals (issue 12 section 7). Nothing is measured here yet, because agent
// certificate renewal and CA rotation do not exist yet; this module prints that and returns no
// rows, so no number is ever invented for them.
//
// To build once they exist (same run as bench/activation.js, same agents-host and key pool):
//  - renewals per second and manager CPU per renewal, beside the activation rows: activated agents
//    (bench/fleet.js) whose certificates are past their renewal point (agentCertificateLifetime
//    short, or an injected clock), each renewed over mutual TLS at concurrency 1 and 16, with the
//    manager's CPU per renewal from process.cpuUsage() (or /proc when the manager is its own
//    process) against the handshake+GetHostInfo reference and the signature floor
//    (bench/signature-floor.js: one RSA-3072 CA signature and one CSR verification per renewal,
//    plus the confirmation handshake);
//  - the time for a CA rotation's activate phase to move 1,000 simulated agents onto the new CA,
//    with agent keys from bench/key-pool.js (key generation is not what is measured).
export const name = 'renewal'

export async function run() {
  console.log('renewal: not measured: agent certificate renewal and CA rotation do not exist yet (issue 12 section 7); bench/renewal.js says what to measure once they do')
  return []
}
