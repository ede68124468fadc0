// A manager home with COUNT agents activated for real (manager-initiated, so each holds a
// CA-issued certificate the registry knows), for the heartbeat benchmarks. The agents' host process
// is stopped afterwards (only their dsa_core files are needed: the simulated agents of
// bench/heartbeat-client.js present them) and the registry closed, so `tether manager start` can
// open it.
import fs from 'node:fs'
import path from 'node:path'

import {activate as activateAgent} from '../dist/manager/manager-initiated.js'
import {TLS_POLICY} from '../dist/channel/tls.js'
import {initManagerHome} from '../dist/manager/home.js'
import {currentCrl} from '../dist/manager/revocation.js'
import {fingerprint, parseCertificate} from '../dist/pki/certificate.js'
import {mapConcurrent, startAgentsHost} from './lib.js'

const ACTIVATION_CONCURRENCY = 8

/**
 * `track`: {started(p), stopped(p)} of the calling benchmark (so an interrupt kills the host).
 * Returns the home, the client's view of each agent, the CRL in force (as a file too) and the
 * client configuration every heartbeat run shares.
 */
export async function activatedFleet({root, work, count, pool, track}) {
  const home = await initManagerHome(path.join(work, 'manager'), {hostnames: ['localhost', '127.0.0.1']})
  const context = await home.open()
  try {
    const host = track.started(await startAgentsHost(root, path.join(work, 'agents'), count, pool && {file: pool.file, offset: pool.take(count)}))
    // The hostname each computer was recorded with: a simulated agent must report it, or it is a clone.
    const hostnames = new Map()
    await mapConcurrent(host.agents, ACTIVATION_CONCURRENCY, async (target) => {
      const {computer, alreadyActivated} = await activateAgent(context, `${target.host}:${target.port}`)
      if (alreadyActivated || computer.state !== 'activated') throw new Error(`activation of ${target.host}:${target.port} ended as ${computer.state}`)
      hostnames.set(target.dsaCore, computer.hostname)
    })
    const agents = host.agents.map((target) => {
      const cert = path.join(target.dsaCore, 'ds_agent.crt')
      const key = path.join(target.dsaCore, 'ds_agent.key')
      if (!fs.existsSync(cert) || !fs.existsSync(key)) throw new Error(`the activated agent in ${target.dsaCore} has no ds_agent.crt / ds_agent.key`)
      return {cert, key, hostname: hostnames.get(target.dsaCore), sha256: fingerprint(parseCertificate(fs.readFileSync(cert, 'utf8'), cert))}
    })
    await track.stopped(host)

    const crl = await currentCrl(context)
    const crlFile = path.join(work, 'crl.pem')
    fs.writeFileSync(crlFile, crl.pem)
    const {credentials} = context
    const client = {
      ca: home.file('caCert'),
      agents,
      tls: {minVersion: TLS_POLICY.minVersion, ciphers: TLS_POLICY.ciphers, ecdhCurve: TLS_POLICY.ecdhCurve},
      // What an activated agent reports in GetAgentStatus: the CRL it was given at activation, so
      // the manager has no newer one to deliver (as with a real, up-to-date agent).
      status: {crlNumber: crl.number, managerSha256: fingerprint(credentials.managerCert), caSha256: fingerprint(credentials.caCert)},
    }
    return {home, agents, crl: {number: crl.number, file: crlFile}, client}
  } finally {
    await context.close()
  }
}
