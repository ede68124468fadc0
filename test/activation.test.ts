import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {HttpSession} from '../src/channel/http-session.js'
import {connectTls} from '../src/channel/connect.js'
import {ManagerHome} from '../src/manager/home.js'
import {generateRsaKeyPair} from '../src/pki/keys.js'
import {issueCertificate} from '../src/pki/x509.js'
import {encodeBody} from '../src/protocol/codec.js'
import {AgentProcess, agent, boundDsaCore, newDsaCore, startAgent, exited} from './agents.js'
import {eventually, initManager, json, openssl, run, tempDir, tether} from './helpers.js'
import {agentJournal, managerJournal, withStore} from './stores.js'

interface Manager {
  home: string
  env: Record<string, string>
}

function credentials(manager: Manager) {
  return new ManagerHome(manager.home).loadCredentials()
}

/** Send one command as a given client identity; resolves with the HTTP status or rejects. */
async function callAs(port: number, identity: {cert?: string; key?: string}, command = 'GetAgentStatus'): Promise<number> {
  const socket = await connectTls({host: '127.0.0.1', port, ...identity, rejectUnauthorized: false})
  const session = new HttpSession(socket)
  try {
    return (await session.call(command)).status
  } finally {
    session.close()
  }
}

let managerA: Manager
let managerB: Manager
beforeAll(async () => {
  ;[managerA, managerB] = await Promise.all([initManager(tempDir()), initManager(tempDir())])
})

describe('manager-initiated activation', () => {
  it('activates, then serves a privileged command over mutual TLS that curl and openssl verify', async () => {
    const a = await agent(undefined, {hostname: 'web-01.test'})
    const result = await tether(['manager', 'activate', a.address, '--display-name', 'web 1', '--json'], managerA.env)
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    const {computer, alreadyActivated} = json(result)
    expect(alreadyActivated).toBe(false)
    expect(computer).toMatchObject({hostname: 'web-01.test', displayName: 'web 1', state: 'activated', address: a.address, mode: 'bidirectional'})
    expect(computer.certSerial).toMatch(/^[0-9A-F]+$/)

    // The agent switched context without a restart, and its files are in place with safe modes.
    const status = json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore]))
    expect(status.state).toBe('activated')
    expect(status.certificateHash.sha256).toBe(computer.certSha256)
    expect(fs.statSync(path.join(a.dsaCore, 'ds_agent.key')).mode & 0o777).toBe(0o600)
    const verify = await openssl(['verify', '-CAfile', path.join(managerA.home, 'ca.crt'), path.join(a.dsaCore, 'ds_agent.crt')])
    expect(verify.stdout.trim()).toBe(`${path.join(a.dsaCore, 'ds_agent.crt')}: OK`)
    expect(fs.readFileSync(path.join(a.dsaCore, 'ds_agent_dsm.crt'), 'utf8')).toBe(fs.readFileSync(path.join(managerA.home, 'manager.crt'), 'utf8'))

    // curl as the manager: verifies the agent against the CA and presents the manager certificate.
    // The agent's certificate names the computer GUID and nothing the agent chose (no hostname SAN).
    const names = await openssl(['x509', '-in', path.join(a.dsaCore, 'ds_agent.crt'), '-noout', '-subject', '-ext', 'subjectAltName'])
    expect(names.stdout).toBe(`subject=CN = ${computer.guid}, OU = agent, O = tether`)
    expect(names.stderr).toContain('No extensions in certificate')
    const body = path.join(tempDir(), 'body.gz')
    fs.writeFileSync(body, encodeBody({}))
    const curl = await execa('curl', ['-sS', '--fail-with-body', '--cacert', path.join(managerA.home, 'ca.crt'), '--cert', path.join(managerA.home, 'manager.crt'), '--key', path.join(managerA.home, 'manager.key'),
      '--resolve', `${computer.guid}:${a.port}:127.0.0.1`, '-H', 'Content-Encoding: gzip', '-H', 'Content-Type: application/json', '--data-binary', `@${body}`, '--compressed', `https://${computer.guid}:${a.port}/GetAgentStatus`], {reject: false})
    expect(curl.exitCode, curl.stderr).toBe(0)
    expect(JSON.parse(curl.stdout)).toMatchObject({state: 'activated', certificateSha256: computer.certSha256})

    // The same curl without a client certificate is refused in the handshake.
    const anonymous = await execa('curl', ['-sS', '--cacert', path.join(managerA.home, 'ca.crt'), '--resolve', `${computer.guid}:${a.port}:127.0.0.1`, '--data-binary', `@${body}`, `https://${computer.guid}:${a.port}/GetAgentStatus`], {reject: false})
    expect(anonymous.exitCode).not.toBe(0)
    expect(anonymous.stdout).toBe('')

    const listed = json(await tether(['manager', 'computers', 'list', '--json'], managerA.env))
    expect(listed.computers.map((c: {guid: string}) => c.guid)).toContain(computer.guid)
    const shown = json(await tether(['manager', 'computers', 'show', 'web 1', '--json'], managerA.env))
    expect(shown).toMatchObject({guid: computer.guid, hostInfo: {hostname: 'web-01.test', state: 'unactivated'}})

    // Again from the same manager: idempotent, nothing re-issued.
    const again = json(await tether(['manager', 'activate', a.address, '--json'], managerA.env))
    expect(again.alreadyActivated).toBe(true)
    expect(again.computer.certSha256).toBe(computer.certSha256)

    // From another manager: refused; the agent belongs to manager A.
    const other = await tether(['manager', 'activate', a.address], managerB.env)
    expect(other.exitCode).toBe(4)
    expect(other.stderr).toMatch(/is activated by another manager .*; deactivate it on that manager, or reset it/)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore])).certificateHash.sha256).toBe(computer.certSha256)
  })

  it('an unactivated agent serves only host information and activation commands', async () => {
    const a = await agent()
    expect(await callAs(a.port, {}, 'GetHostInfo')).toBe(200)
    expect(await callAs(a.port, {}, 'GetAgentStatus')).toBe(403)
    expect(await callAs(a.port, {}, 'NoSuchCommand')).toBe(404)
    const refused = (await agentJournal(a.dsaCore)).find((row) => row.reason === 'command-requires-activation')
    expect(refused).toMatchObject({result: 'refused', context: 'bootstrap', tlsRole: 'server'})
    expect(refused?.detail).toContain('GetAgentStatus')
  })

  it('refuses a SetDSMCert that is not the certificate the manager presented', async () => {
    const a = await agent()
    const creds = credentials(managerA)
    const socket = await connectTls({host: '127.0.0.1', port: a.port, cert: creds.managerCertPem, key: creds.managerKeyPem, rejectUnauthorized: false})
    const session = new HttpSession(socket)
    try {
      const reply = await session.call<{error: {code: string}}>('SetDSMCert', {certificate: credentials(managerB).managerCertPem})
      expect(reply.status).toBe(403)
      expect(reply.body.error.code).toBe('dsm-cert-not-peer')
    } finally {
      session.close()
    }
  })
})

describe('binding enforced', () => {
  const boundAgent = async (to: Manager): Promise<AgentProcess> => agent(await boundDsaCore(to.env))

  it('a second manager is refused naming the bound fingerprint; the agent stays pre-activated for the right one', async () => {
    const a = await boundAgent(managerA)
    const boundSha256 = json(await tether(['manager', 'show', '--json'], managerA.env)).manager.sha256
    const rogue = await tether(['manager', 'activate', a.address, '--json'], managerB.env)
    expect(rogue.exitCode).toBe(5)
    const error = json(rogue).error
    expect(error.code).toBe('bound-to-other-manager')
    expect(error.message).toContain(`bound to the manager with certificate SHA-256 ${boundSha256}`)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore])).state).toBe('pre-activated')
    expect(fs.existsSync(path.join(a.dsaCore, 'ds_agent.key'))).toBe(false)

    // Recorded on both sides.
    const agentSide = (await agentJournal(a.dsaCore)).find((row) => row.reason === 'bound-to-other-manager')
    expect(agentSide).toMatchObject({result: 'refused', context: 'pre-activated'})
    expect(agentSide?.peerSha256).toBe(json(await tether(['manager', 'show', '--json'], managerB.env)).manager.sha256)
    expect((await managerJournal(managerB.home)).filter((row) => row.reason === 'bound-to-other-manager')).toHaveLength(1)
    expect(await withStore(managerB.home, (store) => store.computers.count())).toBe(0)

    const right = await tether(['manager', 'activate', a.address, '--json'], managerA.env)
    expect(right.exitCode, right.stderr).toBe(0)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore])).state).toBe('activated')
  })

  it('a man-in-the-middle presenting the bootstrap certificate to the manager cannot activate a bound agent', async () => {
    const a = await boundAgent(managerA)
    const proxy = await mitmProxy(a.port, bootstrapLike())
    try {
      const result = await tether(['manager', 'activate', `127.0.0.1:${proxy.port}`, '--json'], managerA.env)
      expect(result.exitCode).toBe(5)
      expect(json(result).error.code).toBe('bound-to-other-manager')
      expect(json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore])).state).toBe('pre-activated')
    } finally {
      proxy.close()
    }
  })

  it('a man-in-the-middle can talk to an activated agent in neither direction', async () => {
    const a = await agent()
    expect((await tether(['manager', 'activate', a.address], managerA.env)).exitCode).toBe(0)
    const rogue = await selfSigned('CN=mitm')
    const proxy = await mitmProxy(a.port, rogue)
    try {
      // Proxy -> agent: its certificate is not from the agent's CA.
      await expect(callAs(a.port, rogue)).rejects.toThrow(/alert|socket hang up|ECONNRESET/)
      // Manager -> proxy: the proxy's certificate does not chain to the manager CA.
      const {connectMutual} = await import('../src/manager/connections.js')
      await expect(connectMutual(credentials(managerA), '127.0.0.1', proxy.port)).rejects.toMatchObject({failure: 'trust'})
      // And through the proxy end to end: the activation check refuses it as foreign.
      const through = await tether(['manager', 'activate', `127.0.0.1:${proxy.port}`], managerA.env)
      expect(through.exitCode).toBe(4)
    } finally {
      proxy.close()
    }
  })
})

describe('mutual TLS on an activated agent', () => {
  let a: AgentProcess
  beforeAll(async () => {
    a = await agent()
    expect((await tether(['manager', 'activate', a.address], managerA.env)).exitCode).toBe(0)
  })

  it('accepts the manager', async () => {
    const creds = credentials(managerA)
    expect(await callAs(a.port, {cert: creds.managerCertPem, key: creds.managerKeyPem})).toBe(200)
  })

  it('refuses in the handshake: no certificate, another CA, expired, self-signed copy of the manager subject', async () => {
    const creds = credentials(managerA)
    const other = credentials(managerB)
    const keys = await generateRsaKeyPair()
    const expired = await issueCertificate({
      profile: 'manager', subject: {commonName: 'localhost', organizationalUnit: 'manager', organization: 'tether'}, publicKeyPem: keys.publicKeyPem,
      issuerCertPem: creds.caCertPem, signerKeyPem: creds.caKeyPem, notBefore: new Date(Date.now() - 10 * 86_400_000), validityDays: 2,
    })
    const copy = await issueCertificate({
      profile: 'manager', subject: {commonName: 'localhost', organizationalUnit: 'manager', organization: 'tether'}, publicKeyPem: keys.publicKeyPem,
      signerKeyPem: keys.privateKeyPem, validityDays: 30,
    })
    const cases: Array<[string, {cert?: string; key?: string}, string]> = [
      ['no certificate', {}, 'no-client-certificate'],
      ['another CA', {cert: other.managerCertPem, key: other.managerKeyPem}, 'unknown-ca'],
      ['expired', {cert: expired, key: keys.privateKeyPem}, 'expired'],
      ['self-signed copy', {cert: copy, key: keys.privateKeyPem}, 'self-signed'],
    ]
    for (const [label, identity, reason] of cases) {
      const before = (await agentJournal(a.dsaCore)).length
      await expect(callAs(a.port, identity), label).rejects.toThrow()
      let added: Awaited<ReturnType<typeof agentJournal>> = []
      const entries = await eventually(async () => {
        added = (await agentJournal(a.dsaCore)).slice(before)
        return added.some((e) => e.reason === reason) && added
      }, 5000, () => `${label}: journal reason ${reason} (have ${added.map((e) => e.reason)})`)
      expect(entries.every((e) => e.result === 'refused'), label).toBe(true)
    }
  })

  it('refuses TLS 1.1 and suites without forward secrecy (openssl s_client)', async () => {
    const old = await execa('openssl', ['s_client', '-connect', a.address, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'], {input: '', reject: false})
    expect(old.stdout + old.stderr).toMatch(/alert protocol version/)
    const rsaKex = await execa('openssl', ['s_client', '-connect', a.address, '-tls1_2', '-cipher', 'AES128-GCM-SHA256:AES256-SHA256'], {input: '', reject: false})
    expect(rsaKex.stdout + rsaKex.stderr).toMatch(/alert handshake failure/)
    const modern = await execa('openssl', ['s_client', '-connect', a.address, '-tls1_2'], {input: '', reject: false})
    expect(modern.stdout).toMatch(/Cipher is ECDHE-RSA-(AES256-GCM-SHA384|AES128-GCM-SHA256|CHACHA20-POLY1305)/)
  })

  it('with Node forced to TLS 1.1 the handshake fails too', async () => {
    await expect(connectTls({host: '127.0.0.1', port: a.port, rejectUnauthorized: false, overrides: {minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0'}})).rejects.toMatchObject({failure: 'trust'})
  })
})

describe('crash safety of activation', () => {
  const points = ['activation:after-csr', 'activation:before-commit', 'dsa-core:journal-written', 'dsa-core:first-file-applied', 'activation:after-commit']
  for (const point of points) {
    it(`killed at ${point}: restarts unactivated or fully activated, and activation then completes`, async () => {
      const dsaCore = newDsaCore()
      const doomed = await startAgent(dsaCore, {env: {TETHER_FAILPOINT: point}})
      const attempt = await tether(['manager', 'activate', doomed.address], managerA.env)
      expect(attempt.exitCode).not.toBe(0)
      expect((await exited(doomed)).signal).toBe('SIGKILL')

      const restarted = await agent(dsaCore)
      const state = json(await tether(['agent', 'status', '--json', '--dsa-core', dsaCore])).state
      expect(['unactivated', 'activated']).toContain(state)
      if (state === 'activated') expect(fs.existsSync(path.join(dsaCore, 'ds_agent.journal'))).toBe(false)
      const retry = await tether(['manager', 'activate', restarted.address, '--json'], managerA.env)
      expect(retry.exitCode, retry.stderr + retry.stdout).toBe(0)
      expect(json(retry).alreadyActivated).toBe(state === 'activated')
      expect(json(await tether(['agent', 'status', '--json', '--dsa-core', dsaCore])).state).toBe('activated')
    })
  }
})

// --- helpers: rogue identities and a TLS-terminating proxy ---

async function selfSigned(subject: string): Promise<{cert: string; key: string}> {
  const keys = await generateRsaKeyPair()
  const cert = await issueCertificate({profile: 'manager', subject: {commonName: subject.replace(/^CN=/, '')}, publicKeyPem: keys.publicKeyPem, signerKeyPem: keys.privateKeyPem, validityDays: 30})
  return {cert, key: keys.privateKeyPem}
}

function bootstrapLike(): {cert: string; key: string} {
  const dir = path.resolve('assets/bootstrap')
  return {cert: fs.readFileSync(path.join(dir, 'bootstrap.crt'), 'utf8'), key: fs.readFileSync(path.join(dir, 'bootstrap.key'), 'utf8')}
}

/** Terminates TLS from the manager with `identity`, and opens its own TLS to the agent with it. */
async function mitmProxy(agentPort: number, identity: {cert: string; key: string}): Promise<{port: number; close(): void}> {
  const sockets = new Set<net.Socket>()
  const server = tls.createServer({cert: identity.cert, key: identity.key, requestCert: false}, (front) => {
    sockets.add(front)
    const back = tls.connect({host: '127.0.0.1', port: agentPort, cert: identity.cert, key: identity.key, rejectUnauthorized: false})
    sockets.add(back)
    front.pipe(back).pipe(front)
    const close = () => {
      front.destroy()
      back.destroy()
    }

    front.on('error', close)
    back.on('error', close)
    front.on('close', close)
    back.on('close', close)
  })
  server.on('tlsClientError', () => undefined)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}
