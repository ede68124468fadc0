import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import readline from 'node:readline'

import {ResultPromise, execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {openAgentDatabase, recordHandshake} from '../src/agent/database.js'
import {parseSince} from '../src/inspect/journal/view.js'
import {JOURNAL_MAX_ENTRIES} from '../src/platform/sqlite-journal.js'
import {TLS_CIPHERS} from '../src/channel/tls.js'
import {ManagerHome} from '../src/manager/home.js'
import {generateRsaKeyPair} from '../src/pki/keys.js'
import {issueCertificate} from '../src/pki/x509.js'
import {AgentProcess, ManagerProcess, agent, boundDsaCore, newDsaCore, startManager} from './agents.js'
import {BIN, CliResult, ROOT, eventually, initManager, json, openssl, run, tempDir, tether} from './helpers.js'
import {managerJournal, withStore} from './stores.js'


interface Manager {
  home: string
  env: Record<string, string>
  sha256: string
  caSubject: string
}

/** An empty data directory, so no per-user default manager home leaks into a test. */
let xdg: string

async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const result = await execa(process.execPath, [BIN.tether, ...args], {
    reject: false,
    cwd: ROOT,
    env: {NO_COLOR: '1', TETHER_MANAGER_HOME: undefined, TETHER_DSA_CORE: undefined, XDG_DATA_HOME: xdg, ...env},
    input: '',
  })
  return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

const inspect = (target: string, args: string[] = [], env: Record<string, string | undefined> = {}) => cli(['handshake', 'inspect', target, '--json', ...args], env)

const servers: ResultPromise[] = []

afterAll(async () => {
  for (const server of servers) server.kill('SIGTERM')
  await Promise.all(servers.map(async (s) => s.catch(() => undefined)))
})

async function freePort(): Promise<number> {
  const probe = net.createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const {port} = probe.address() as net.AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/** openssl s_server on a free loopback port; resolves once it accepts. Killed after the file. */
async function sServer(args: string[]): Promise<{port: number; address: string}> {
  const port = await freePort()
  // stdin stays open (s_server stops at end of input); output is read so the pipe never fills.
  const child = execa('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, ...args], {reject: false, stdin: 'pipe', buffer: false})
  servers.push(child)
  const lines = readline.createInterface({input: child.stdout!})
  child.stderr!.resume()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('s_server did not start')), 10_000)
    lines.on('line', (line) => {
      if (line.startsWith('ACCEPT')) {
        clearTimeout(timer)
        resolve()
      }
    })
    void child.then((result) => reject(new Error(`s_server exited ${result.exitCode}`)))
  })
  return {port, address: `127.0.0.1:${port}`}
}

async function loadManager(dir: string): Promise<Manager> {
  const {home, env} = await initManager(dir)
  const shown = json(await tether(['manager', 'show', '--json'], env))
  return {home, env, sha256: shown.manager.sha256, caSubject: shown.ca.subject}
}

async function agentStatus(dsaCore: string) {
  return json(await tether(['agent', 'status', '--json', '--dsa-core', dsaCore]))
}

async function boundAgent(to: Manager): Promise<AgentProcess> {
  return agent(await boundDsaCore(to.env))
}

let managerA: Manager
let managerB: Manager
let foreign: {dir: string; cert: string; key: string}
let bootstrapSha256: string

beforeAll(async () => {
  xdg = tempDir('tether-xdg-')
  const dir = tempDir()
  foreign = {dir, cert: path.join(dir, 'foreign.crt'), key: path.join(dir, 'foreign.key')}
  const made = await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', foreign.key, '-out', foreign.cert, '-days', '30', '-subj', '/CN=foreign.test/O=elsewhere'])
  expect(made.exitCode, made.stderr).toBe(0)
  ;[managerA, managerB] = await Promise.all([loadManager(tempDir()), loadManager(tempDir())])
  bootstrapSha256 = (await agentStatus(newDsaCore())).certificateHash.sha256
})

describe('handshake inspect: agents', () => {
  it('an unactivated agent, as the manager found in $TETHER_MANAGER_HOME: bootstrap peer, nothing fails, exit 0', async () => {
    const a = await agent()
    const result = await inspect(a.address, [], managerA.env)
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    const report = json(result)
    expect(report.as).toBe('manager')
    expect(report.asSource).toContain('manager home found')
    expect(report.presented.sha256).toBe(managerA.sha256)
    expect(report.handshake).toMatchObject({completed: true, protocol: 'TLSv1.3', alpn: false, resumed: false})
    expect(TLS_CIPHERS.split(':')).toContain(report.handshake.cipher)
    expect(report.handshake.keyExchange.name).toBe('X25519')
    expect(report.peer.kind).toBe('bootstrap')
    const [leaf] = report.peer.chain
    expect(leaf.sha256).toBe(bootstrapSha256)
    // The signature algorithm is read from the DER by hand (Node 20 does not expose it): compare with openssl.
    const text = await openssl(['x509', '-noout', '-text', '-in', path.join(ROOT, 'assets', 'bootstrap', 'bootstrap.crt')])
    expect(text.stdout).toContain(`Signature Algorithm: ${leaf.signatureAlgorithm}`)
    expect(leaf.key).toBe('RSA 2048')
    expect(report.verdicts.chain).toMatchObject({status: 'skip', code: 'bootstrap-certificate'})
    expect(report.verdicts.binding).toMatchObject({status: 'skip', code: 'not-bound'})
    expect(report.verdicts.clientCertificate).toMatchObject({status: 'pass', code: 'accepted'})
    expect(report.verdicts.clock).toMatchObject({status: 'pass', code: 'in-sync'})
    expect(report.clientCertificate).toMatchObject({requested: true, sent: true, accepted: true})
    expect(report.agentAnswer).toMatchObject({status: 200, hostname: 'agent.test', state: 'unactivated'})
    expect(report.ok).toBe(true)
    expect(report.failure).toBeUndefined()

    // The human form says the same, without colour when not on a terminal.
    const human = await cli(['handshake', 'inspect', a.address], managerA.env)
    expect(human.exitCode, human.stdout + human.stderr).toBe(0)
    expect(human.stdout).toMatch(/Peer: +the shipped bootstrap certificate/)
    expect(human.stdout).toMatch(/PASS {2}client certificate +accepted/)
    expect(human.stdout).toContain('Result: OK')
    expect(human.stdout).not.toContain('\u001B[')
  })

  it('a bound agent: accepted by the manager it is bound to, refused to another with the bound fingerprint', async () => {
    const a = await boundAgent(managerA)
    const right = await inspect(a.address, ['--home', managerA.home])
    expect(right.exitCode, right.stdout).toBe(0)
    expect(json(right).verdicts.binding).toMatchObject({status: 'pass', code: 'bound-to-us'})
    expect(json(right).agentAnswer.state).toBe('pre-activated')

    const wrong = await inspect(a.address, ['--home', managerB.home])
    expect(wrong.exitCode, wrong.stdout + wrong.stderr).toBe(5)
    const report = json(wrong)
    expect(report.peer.kind).toBe('bootstrap')
    // The TLS handshake itself succeeds; the binding is enforced on the first command.
    expect(report.verdicts.clientCertificate.status).toBe('pass')
    expect(report.verdicts.binding.status).toBe('fail')
    expect(report.verdicts.binding.code).toBe('bound-to-other-manager')
    expect(report.verdicts.binding.detail).toContain(managerA.sha256)
    expect(report.failure).toMatchObject({stage: 'agent-answer', reason: 'bound-to-other-manager'})
    // A plain dsa_control -r refuses a bound agent by design (issue 13): the fix names --unbind.
    expect(report.failure.fix).toContain('clear the binding explicitly (`tether agent reset --unbind`)')
    expect(report.error).toMatchObject({code: 'bound-to-other-manager', class: 'trust', exitCode: 5})
    // Probing changed nothing on the agent.
    expect((await agentStatus(a.dsaCore)).state).toBe('pre-activated')
  })

  describe('an activated agent', () => {
    let a: AgentProcess
    let agentSha256: string
    beforeAll(async () => {
      a = await agent()
      const activated = await tether(['manager', 'activate', a.address], managerA.env)
      expect(activated.exitCode, activated.stderr).toBe(0)
      agentSha256 = (await agentStatus(a.dsaCore)).certificateHash.sha256
    })

    it('as its manager: chain verifies to the CA, not revoked, our certificate requested and accepted', async () => {
      const result = await inspect(a.address, ['--as', 'manager', '--home', managerA.home])
      expect(result.exitCode, result.stdout).toBe(0)
      const report = json(result)
      expect(report.peer.kind).toBe('own-agent')
      expect(report.peer.chain[0]).toMatchObject({sha256: agentSha256, issuer: managerA.caSubject, validity: 'valid', key: 'RSA 2048'})
      expect(report.peer.chain[0].subjectAltNames).toEqual([])
      expect(report.peer.chain[0].daysLeft).toBeGreaterThan(300)
      expect(report.verdicts.chain).toMatchObject({status: 'pass', code: 'verified'})
      expect(report.verdicts.revocation).toMatchObject({status: 'pass', code: 'not-revoked'})
      expect(report.verdicts.binding).toMatchObject({status: 'skip', code: 'activated'})
      expect(report.verdicts.clientCertificate).toMatchObject({status: 'pass', code: 'accepted'})
      // The CA names come from the agent's CertificateRequest, decrypted from the TLS 1.3 records.
      expect(report.clientCertificate).toMatchObject({requested: true, sent: true, accepted: true, acceptableCAs: [managerA.caSubject]})
      expect(report.agentAnswer.state).toBe('activated')
      // The CRL the manager checks peers with, and how long it has left (a week, issued an hour back).
      expect(report.trust.crl).toMatchObject({source: 'the manager registry', number: expect.any(Number)})
      expect(report.trust.crl.daysLeft).toBeGreaterThanOrEqual(6)
      expect(report.trust.crl.daysLeft).toBeLessThanOrEqual(7)
      // The agent's side: the CRL it holds, from its dsa_core.
      const asAgent = json(await inspect(a.address, ['--as', 'agent', '--dsa-core', a.dsaCore]))
      expect(asAgent.trust.crl).toMatchObject({source: expect.stringContaining('ds_agent_dsm.crl'), number: expect.any(Number), daysLeft: expect.any(Number)})
    })

    it('anonymously: the agent asks for a certificate and refuses us without one (no-client-certificate)', async () => {
      const result = await inspect(a.address, ['--as', 'anonymous'], managerA.env)
      expect(result.exitCode, result.stdout + result.stderr).toBe(5)
      const report = json(result)
      expect(report.presented).toBeUndefined()
      // We still judge the agent with the manager's CA, even though we present nothing.
      expect(report.verdicts.chain.code).toBe('verified')
      expect(report.clientCertificate).toMatchObject({requested: true, sent: false})
      expect(report.verdicts.clientCertificate).toMatchObject({status: 'fail', code: 'no-client-certificate'})
      expect(report.failure).toMatchObject({stage: 'client-certificate', reason: 'no-client-certificate'})
      expect(report.failure.fix).toContain('--as manager')
    })

    it('anonymously with no manager home anywhere: nothing to verify against, still refused', async () => {
      const result = await inspect(a.address)
      expect(result.exitCode, result.stdout + result.stderr).toBe(5)
      const report = json(result)
      expect(report).toMatchObject({as: 'anonymous', asSource: 'default: no manager home found'})
      expect(report.peer.kind).toBe('unknown')
      expect(report.peer.chain[0].sha256).toBe(agentSha256)
      expect(report.verdicts.chain).toMatchObject({status: 'skip', code: 'no-anchor'})
      expect(report.failure.reason).toBe('no-client-certificate')
    })

    it('as another manager: foreign chain, and the agent refuses our CA (named in its CertificateRequest)', async () => {
      const result = await inspect(a.address, ['--home', managerB.home])
      expect(result.exitCode, result.stdout + result.stderr).toBe(5)
      const report = json(result)
      expect(report.peer.kind).toBe('foreign')
      expect(report.verdicts.chain.status).toBe('fail')
      expect(report.verdicts.chain.code).toBe('unknown-ca')
      expect(report.verdicts.clientCertificate).toMatchObject({status: 'fail', code: 'unknown-ca'})
      expect(report.verdicts.clientCertificate.detail).toContain(managerA.caSubject)
      expect(report.failure).toMatchObject({stage: 'client-certificate', reason: 'unknown-ca'})
      expect(report.failure.fix).toContain('another manager')
    })

    it('revoked in the registry: the handshake succeeds but the revocation verdict fails', async () => {
      // Revoked for this test alone: the registry is put back from a copy afterwards (no process has it open).
      const registry = path.join(managerA.home, 'tether.db')
      const saved = fs.readFileSync(registry)
      try {
        expect(await withStore(managerA.home, (store) => store.certificates.revoke(agentSha256, 'keyCompromise', new Date('2026-01-01T00:00:00Z')))).toBe(true)
        const result = await inspect(a.address, ['--home', managerA.home])
        expect(result.exitCode, result.stdout + result.stderr).toBe(5)
        const report = json(result)
        expect(report.handshake.completed).toBe(true)
        expect(report.verdicts.revocation).toMatchObject({status: 'fail', code: 'revoked'})
        expect(report.verdicts.revocation.detail).toBe('revoked on 2026-01-01T00:00:00.000Z (keyCompromise)')
        expect(report.failure).toMatchObject({stage: 'verification', reason: 'revoked'})
        expect(report.failure.fix).toContain('reset the agent')
      } finally {
        for (const file of [`${registry}-wal`, `${registry}-shm`]) fs.rmSync(file, {force: true})
        fs.writeFileSync(registry, saved)
      }
    })

    it('as the agent, against openssl s_server holding its manager\'s credentials: CA and binding match', async () => {
      const stand = await sServer(['-cert', path.join(managerA.home, 'manager.crt'), '-key', path.join(managerA.home, 'manager.key'), '-Verify', '1', '-verify_return_error', '-CAfile', path.join(managerA.home, 'ca.crt')])
      const result = await inspect(stand.address, ['--dsa-core', a.dsaCore])
      expect(result.exitCode, result.stdout).toBe(0)
      const report = json(result)
      expect(report.as).toBe('agent')
      expect(report.presented.sha256).toBe(agentSha256)
      expect(report.trust.anchor).toContain('ds_agent_dsm_ca.crt')
      expect(report.peer.kind).toBe('own-manager')
      expect(report.verdicts.chain.code).toBe('verified')
      expect(report.verdicts.binding).toMatchObject({status: 'pass', code: 'matches'})
      expect(report.verdicts.clientCertificate.status).toBe('pass')
      expect(report.clientCertificate).toMatchObject({requested: true, sent: true})
    })

    it('as the agent, against a server with another manager\'s credentials: wrong manager on every count', async () => {
      const rogue = await sServer(['-cert', path.join(managerB.home, 'manager.crt'), '-key', path.join(managerB.home, 'manager.key'), '-Verify', '1', '-verify_return_error', '-CAfile', path.join(managerB.home, 'ca.crt')])
      // A generous wait for the post-handshake alert, so a loaded machine cannot hide it.
      const result = await inspect(rogue.address, ['--as', 'agent', '--dsa-core', a.dsaCore, '--settle', '5000'])
      expect(result.exitCode, result.stdout + result.stderr).toBe(5)
      const report = json(result)
      expect(report.peer.kind).toBe('foreign')
      expect(report.verdicts.chain).toMatchObject({status: 'fail', code: 'unknown-ca'})
      expect(report.verdicts.binding).toMatchObject({status: 'fail', code: 'bound-to-other-manager'})
      expect(report.verdicts.binding.detail).toContain(managerB.sha256)
      // s_server refuses our agent certificate with an unknown_ca alert (48) after the handshake.
      expect(report.verdicts.clientCertificate).toMatchObject({status: 'fail', code: 'unknown-ca'})
      expect(report.failure.openssl).toMatchObject({code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', alert: 48})
      expect(report.failure.fix).toMatch(/^wrong manager/)
    })
  })
})

describe('handshake inspect: foreign servers and failures', () => {
  it('openssl s_server with its own certificate: foreign, self-signed, and the key log matches the server\'s', async () => {
    const serverKeys = path.join(foreign.dir, 'server-keys.log')
    const server = await sServer(['-cert', foreign.cert, '-key', foreign.key, '-keylogfile', serverKeys])
    const keylog = path.join(tempDir(), 'keys.log')
    // An existing, world-readable file is appended to and made owner-only.
    fs.writeFileSync(keylog, '', {mode: 0o644})
    const result = await inspect(server.address, ['--home', managerA.home, '--keylog', keylog])
    expect(result.exitCode, result.stdout + result.stderr).toBe(5)
    const report = json(result)
    expect(report.peer.kind).toBe('foreign')
    const fingerprint = await openssl(['x509', '-noout', '-fingerprint', '-sha256', '-in', foreign.cert])
    expect(report.peer.chain).toHaveLength(1)
    expect(report.peer.chain[0]).toMatchObject({subject: 'CN=foreign.test, O=elsewhere', selfSigned: true, sentByPeer: true})
    expect(fingerprint.stdout.trim()).toBe(`sha256 Fingerprint=${report.peer.chain[0].sha256}`)
    expect(report.verdicts.chain).toMatchObject({status: 'fail', code: 'self-signed'})
    expect(report.verdicts.clientCertificate).toMatchObject({status: 'pass', code: 'not-requested'})
    expect(report.failure).toMatchObject({stage: 'verification', reason: 'self-signed', openssl: {code: 'X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT', verifyResult: 18}})
    expect(report.failure.fix).toContain('not a tether agent or manager')

    // NSS key log: owner-only, and exactly the secrets the server itself logged.
    expect(fs.statSync(keylog).mode & 0o777).toBe(0o600)
    const ours = fs.readFileSync(keylog, 'utf8').trim().split('\n')
    expect(ours.map((line) => line.split(' ')[0]).sort()).toEqual(['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'EXPORTER_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_TRAFFIC_SECRET_0'])
    expect(report.keylog).toEqual({file: keylog, lines: 5})
    const theirs = await eventually(() => fs.existsSync(serverKeys) && fs.readFileSync(serverKeys, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')), 5000, 'the server key log')
    for (const line of ours) expect(theirs).toContain(line)
  })

  it('a certificate from our CA that has expired: verification fails with expired, and the fix mentions the clock', async () => {
    const credentials = new ManagerHome(managerA.home).loadCredentials()
    const keys = await generateRsaKeyPair()
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'expired.key'), keys.privateKeyPem)
    fs.writeFileSync(path.join(dir, 'expired.crt'), await issueCertificate({
      profile: 'agent', subject: {commonName: 'expired.test', organizationalUnit: 'agent', organization: 'tether'}, publicKeyPem: keys.publicKeyPem,
      issuerCertPem: credentials.caCertPem, signerKeyPem: credentials.caKeyPem, notBefore: new Date(Date.now() - 10 * 86_400_000), validityDays: 2,
    }))
    const server = await sServer(['-cert', path.join(dir, 'expired.crt'), '-key', path.join(dir, 'expired.key')])
    const result = await inspect(server.address, ['--home', managerA.home, '--handshake-only'])
    expect(result.exitCode, result.stdout + result.stderr).toBe(5)
    const report = json(result)
    expect(report.peer.kind).toBe('own-agent')
    expect(report.peer.chain[0]).toMatchObject({subject: 'CN=expired.test, OU=agent, O=tether', validity: 'expired'})
    expect(report.peer.chain[0].daysLeft).toBeLessThan(0)
    expect(report.verdicts.chain).toMatchObject({status: 'fail', code: 'expired'})
    // Never recorded by this registry: the revocation verdict cannot vouch for it either.
    expect(report.verdicts.revocation).toMatchObject({status: 'fail', code: 'not-in-registry'})
    expect(report.failure).toMatchObject({stage: 'verification', reason: 'expired', openssl: {code: 'X509_V_ERR_CERT_HAS_EXPIRED', verifyResult: 10}})
    expect(report.failure.fix).toContain('clock')
  })

  it('a server demanding a client certificate, TLS 1.3: refused after the handshake with alert 116', async () => {
    const server = await sServer(['-cert', foreign.cert, '-key', foreign.key, '-Verify', '1', '-verify_return_error', '-CAfile', foreign.cert])
    const result = await inspect(server.address, ['--as', 'anonymous', '--settle', '5000'])
    expect(result.exitCode, result.stdout + result.stderr).toBe(5)
    const report = json(result)
    expect(report.handshake.protocol).toBe('TLSv1.3')
    expect(report.clientCertificate).toMatchObject({requested: true, sent: false, acceptableCAs: ['CN=foreign.test, O=elsewhere']})
    expect(report.failure).toMatchObject({stage: 'client-certificate', reason: 'no-client-certificate', openssl: {code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', alert: 116}})
  })

  it('the same over TLS 1.2: the handshake fails, the chain is still read from the records', async () => {
    const server = await sServer(['-tls1_2', '-cert', foreign.cert, '-key', foreign.key, '-Verify', '1', '-verify_return_error', '-CAfile', foreign.cert])
    const result = await inspect(server.address, ['--as', 'anonymous'])
    expect(result.exitCode, result.stdout + result.stderr).toBe(5)
    const report = json(result)
    expect(report.handshake).toMatchObject({completed: false, protocol: 'TLSv1.2'})
    expect(report.peer.chainSource).toBe('wire')
    expect(report.peer.chain[0].subject).toBe('CN=foreign.test, O=elsewhere')
    // A bare handshake_failure alert (40) reads like a cipher problem; the captured CertificateRequest says otherwise.
    expect(report.failure).toMatchObject({stage: 'tls-handshake', reason: 'no-client-certificate', openssl: {alert: 40}})
    expect(report.failure.openssl.error).toMatch(/^error:[0-9A-F]{8}$/)
  })

  it('a peer below TLS 1.2 fails in the handshake with protocol-version', async () => {
    const server = await sServer(['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0', '-cert', foreign.cert, '-key', foreign.key])
    const result = await inspect(server.address, ['--as', 'anonymous'])
    expect(result.exitCode, result.stdout + result.stderr).toBe(5)
    expect(json(result).failure).toMatchObject({stage: 'tls-handshake', reason: 'protocol-version', openssl: {alert: 70}})
  })

  it('nothing listening: stage tcp-connect, exit 6; the human form names stage, reason and fix', async () => {
    const port = await freePort()
    const result = await inspect(`127.0.0.1:${port}`, ['--as', 'anonymous'])
    expect(result.exitCode, result.stdout + result.stderr).toBe(6)
    expect(json(result).failure).toMatchObject({stage: 'tcp-connect', reason: 'connection-refused'})
    expect(json(result).error.class).toBe('unreachable')
    const human = await cli(['handshake', 'inspect', `127.0.0.1:${port}`, '--as', 'anonymous'])
    expect(human.exitCode, human.stdout + human.stderr).toBe(6)
    expect(human.stdout).toContain('Result: FAILED at tcp-connect: connection-refused')
    expect(human.stdout).toMatch(/Likely fix: +nothing is listening at 127\.0\.0\.1:\d+/)
    expect(human.stderr).toMatch(/^Error: cannot reach 127\.0\.0\.1:\d+/)
  })

  it('usage errors: a bad address, --dsa-core with --as manager', async () => {
    expect((await inspect('127.0.0.1:99999', ['--as', 'anonymous'])).exitCode).toBe(2)
    const conflicting = await inspect('127.0.0.1:4118', ['--as', 'manager', '--home', managerA.home, '--dsa-core', newDsaCore()])
    expect(conflicting.exitCode, conflicting.stdout + conflicting.stderr).toBe(2)
    expect(json(conflicting).error.code).toBe('conflicting-flags')
  })
})

describe('handshake log', () => {
  let a: AgentProcess

  beforeAll(async () => {
    // A rogue-manager refusal, a success, then a no-client-certificate refusal, in that order.
    a = await boundAgent(managerA)
    expect((await tether(['manager', 'activate', a.address], managerB.env)).exitCode).toBe(5)
    expect((await tether(['manager', 'activate', a.address], managerA.env)).exitCode).toBe(0)
    expect((await inspect(a.address, ['--as', 'anonymous'])).exitCode).toBe(5)
  })

  async function agentJournal(args: string[] = [], env: Record<string, string | undefined> = {}) {
    const result = await cli(['handshake', 'log', '--dsa-core', a.dsaCore, '--json', ...args], env)
    expect(result.exitCode, result.stderr).toBe(0)
    return json(result)
  }

  it('the agent journal records the rogue-manager refusal, the no-client-certificate refusal and a success, with every field', async () => {
    const {source, entries} = await agentJournal()
    expect(source).toBe('agent')
    const ids = entries.map((e: {id: number}) => e.id)
    expect(ids).toEqual([...ids].sort((x, y) => x - y))

    const rogue = entries.find((e: {reason: string}) => e.reason === 'bound-to-other-manager')
    expect(rogue).toMatchObject({result: 'refused', context: 'pre-activated', tlsRole: 'server', httpRole: 'server', protocol: 'TLSv1.3', peerSha256: managerB.sha256})
    expect(rogue.peerAddress).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(rogue.peerSubject).toContain('OU=manager')
    expect(TLS_CIPHERS.split(':')).toContain(rogue.cipher)
    expect(new Date(rogue.at).toISOString()).toBe(rogue.at)

    const success = entries.find((e: {result: string; context: string}) => e.result === 'accepted' && e.context === 'mutual')
    expect(success).toMatchObject({reason: 'ok', tlsRole: 'server', httpRole: 'server', peerSha256: managerA.sha256, protocol: 'TLSv1.3'})
    expect(success.id).toBeGreaterThan(rogue.id)

    const anonymous = entries.find((e: {reason: string}) => e.reason === 'no-client-certificate')
    expect(anonymous).toMatchObject({result: 'refused', context: 'mutual', tlsRole: 'server', peerSha256: null, protocol: 'TLSv1.3'})
    expect(anonymous.id).toBeGreaterThan(success.id)
  })

  it('the manager journals record their side: the refused attempt on B, the accepted one on A', async () => {
    const b = await cli(['handshake', 'log', '--json'], managerB.env)
    expect(b.exitCode, b.stdout + b.stderr).toBe(0)
    expect(json(b).source).toBe('manager')
    expect(json(b).entries.find((e: {reason: string}) => e.reason === 'bound-to-other-manager')).toMatchObject({result: 'refused', tlsRole: 'client', httpRole: 'client', context: 'pre-activated', peerSha256: bootstrapSha256})
    const entriesA = json(await cli(['handshake', 'log', '--home', managerA.home, '--json'])).entries
    expect(entriesA.some((e: {result: string; context: string; peerAddress: string}) => e.result === 'accepted' && e.context === 'bootstrap' && e.peerAddress === a.address)).toBe(true)
  })

  it('--since and --limit select entries; bad values are usage errors', async () => {
    const all = (await agentJournal()).entries
    expect((await agentJournal(['--since', '1h'])).entries).toEqual(all)
    expect((await agentJournal(['--since', '2999-01-01T00:00:00Z'])).entries).toEqual([])
    const last = (await agentJournal(['--limit', '1'])).entries
    expect(last).toEqual([all.at(-1)])
    expect((await cli(['handshake', 'log', '--dsa-core', a.dsaCore, '--since', 'yesterday'])).exitCode).toBe(2)
    expect((await cli(['handshake', 'log', '--dsa-core', a.dsaCore, '--home', managerA.home])).exitCode).toBe(2)
    expect((await cli(['handshake', 'log', '--dsa-core', newDsaCore()])).exitCode).toBe(3)
    expect(parseSince('90s', new Date('2026-01-01T00:01:30Z'))).toBe('2026-01-01T00:00:00.000Z')
  })

  it('refused entries are red on a terminal (FORCE_COLOR) and plain otherwise', async () => {
    const plain = await cli(['handshake', 'log', '--dsa-core', a.dsaCore])
    expect(plain.exitCode, plain.stdout + plain.stderr).toBe(0)
    expect(plain.stdout).not.toContain('\u001B[')
    const refusedLine = plain.stdout.split('\n').find((l) => l.includes('no-client-certificate'))
    expect(refusedLine).toContain('refused')

    const coloured = await cli(['handshake', 'log', '--dsa-core', a.dsaCore], {NO_COLOR: undefined, FORCE_COLOR: '1'})
    const lines = coloured.stdout.split('\n')
    expect(lines.find((l) => l.includes('no-client-certificate'))).toMatch(/^\u001B\[31m.*refused/)
    expect(lines.find((l) => l.includes(' accepted ') && l.includes('mutual'))).not.toContain('\u001B[')
  })

  it('--follow prints entries as they are recorded and stops on SIGTERM', async () => {
    const child = execa(process.execPath, [BIN.tether, 'handshake', 'log', '--follow', '--json', '--dsa-core', a.dsaCore, '--interval', '100'], {
      reject: false,
      env: {NO_COLOR: '1', XDG_DATA_HOME: xdg},
      buffer: {stdout: false, stderr: true},
    })
    const seen: Array<{id: number; reason: string; result: string}> = []
    const lines = readline.createInterface({input: child.stdout!})
    const waitFor = (predicate: (entry: (typeof seen)[number]) => boolean, what: string) => new Promise<(typeof seen)[number]>((resolve, reject) => {
      const found = seen.find(predicate)
      if (found) return resolve(found)
      const timer = setTimeout(() => reject(new Error(`--follow never printed ${what}`)), 20_000)
      lines.on('line', (line) => {
        const entry = JSON.parse(line)
        if (predicate(entry)) {
          clearTimeout(timer)
          resolve(entry)
        }
      })
    })
    lines.on('line', (line) => seen.push(JSON.parse(line)))
    try {
      const backlogEnd = (await agentJournal()).entries.at(-1).id
      await waitFor((e) => e.id === backlogEnd, 'the existing entries')
      // A new handshake while following: the manager's probe is accepted over mutual TLS.
      expect((await inspect(a.address, ['--home', managerA.home])).exitCode).toBe(0)
      const fresh = await waitFor((e) => e.id > backlogEnd && e.result === 'accepted', 'the new entry')
      expect(fresh.reason).toBe('ok')
    } finally {
      child.kill('SIGTERM')
    }

    const exit = await child
    expect(exit.exitCode, exit.stderr).toBe(0)
  })

  it('is bounded: the oldest entries roll off, the view shows the newest last', async () => {
    const dsaCore = newDsaCore()
    fs.mkdirSync(dsaCore)
    const db = await openAgentDatabase(dsaCore)
    const total = JOURNAL_MAX_ENTRIES + 100
    db.transaction(() => {
      for (let i = 1; i <= total; i++) recordHandshake(db, {tlsRole: 'server', httpRole: 'server', context: 'bootstrap', result: 'accepted', reason: 'ok', detail: `#${i}`})
    })()
    db.close()
    const {entries} = json(await cli(['handshake', 'log', '--dsa-core', dsaCore, '--json']))
    expect(entries).toHaveLength(JOURNAL_MAX_ENTRIES)
    expect(entries[0].detail).toBe('#101')
    expect(entries.at(-1).detail).toBe(`#${total}`)
  })
})

describe('handshake inspect: the manager heartbeat port', () => {
  let manager: Manager
  let listener: ManagerProcess
  let dsaCore: string
  beforeAll(async () => {
    manager = await loadManager(tempDir())
    listener = await startManager(manager.home)
    dsaCore = newDsaCore()
    const activated = await run('dsa_control', ['-a', listener.url], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'probe.test'})
    expect(activated.exitCode, activated.stderr).toBe(0)
  })

  afterAll(async () => {
    await listener.stop()
  })

  it('as the activated agent: the manager certificate, verified to the stored CA, our certificate accepted', async () => {
    const result = await inspect(`127.0.0.1:${listener.port}`, ['--dsa-core', dsaCore])
    const report = json(result)
    expect(result.exitCode, result.stdout).toBe(0)
    expect(report).toMatchObject({as: 'agent', ok: true, peer: {kind: 'own-manager'}})
    expect(report.peer.chain[0].sha256).toBe(manager.sha256)
    expect(report.verdicts.chain).toMatchObject({status: 'pass', code: 'verified'})
    expect(report.verdicts.clientCertificate.status).toBe('pass')
  })

  it('anonymously: refused for want of a client certificate, with the stage and the fix', async () => {
    const result = await inspect(`127.0.0.1:${listener.port}`, ['--as', 'anonymous', '--settle', '5000'])
    const report = json(result)
    expect(result.exitCode).toBe(5)
    expect(report.ok).toBe(false)
    expect(report.verdicts.clientCertificate).toMatchObject({status: 'fail', code: 'no-client-certificate'})
    expect(report.failure.fix).toBeTruthy()
    await eventually(async () => (await managerJournal(manager.home)).some((row) => row.reason === 'no-client-certificate'), 5000, 'refusal journaled by the manager')
  })
})
