import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import tls from 'node:tls'

import {describe, expect, it} from 'vitest'

import {connectTls} from '../src/channel/connect.js'
import {HttpSession} from '../src/channel/http-session.js'
import {ManagerHome} from '../src/manager/home.js'
import {generateRsaKeyPair} from '../src/pki/keys.js'
import {issueCertificate} from '../src/pki/x509.js'
import {agent, listener, managerWithListener, newDsaCore} from './agents.js'
import {FakeClock} from './faketime.js'
import {CliResult, eventually, initManager, json, openssl, run, snapshot, tempDir, tether} from './helpers.js'
import {agentJournal, managerJournal, withStore} from './stores.js'

/**
 * The attacks of the trust review, replayed over real sockets against real processes: each is
 * refused, journaled, and leaves the victim as it was.
 */

const dsaControl = (dsaCore: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
  run('dsa_control', args, {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test', ...env})

const files = (dsaCore: string) => ({cert: fs.readFileSync(path.join(dsaCore, 'ds_agent.crt'), 'utf8'), key: fs.readFileSync(path.join(dsaCore, 'ds_agent.key'), 'utf8')})

/** dsa_core as files, the agent's own database (journal, events) and its log left out. */
function state(dsaCore: string): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshot(dsaCore)).filter(([name]) => !name.startsWith('ds_agent.db') && !name.startsWith('ds_agent.log')))
}

/** The status line of a dsa_control session (the transcript around it varies). */
const statusOf = (stdout: string) => stdout.split('\n').find((line) => line.startsWith('HTTP Status:'))

/** Play an agent on the manager's heartbeat port with these credentials, answering with `handler`. */
function playAgent(port: number, credentials: {cert: string; key: string}, handler: http.RequestListener = (_req, res) => res.end()): Promise<{requests: string[]; closed: Promise<void>}> {
  return new Promise((resolve, reject) => {
    const requests: string[] = []
    const socket = tls.connect({host: '127.0.0.1', port, ...credentials, rejectUnauthorized: false}, () => {
      http.createServer((req, res) => {
        requests.push(req.url ?? '')
        handler(req, res)
      }).emit('connection', socket)
      resolve({requests, closed: new Promise((done) => socket.once('close', () => done()))})
    })
    socket.on('error', () => undefined)
    socket.once('error', reject)
  })
}

describe('only a manager can command an agent', () => {
  it('an enrolled agent\'s certificate commands no other agent: refused in the handshake, journaled, nothing changed', async () => {
    const m = await managerWithListener()
    const victim = await agent(newDsaCore(), {hostname: 'victim.test'})
    expect((await tether(['manager', 'activate', victim.address], m.env)).exitCode).toBe(0)
    const attackerCore = newDsaCore()
    expect((await dsaControl(attackerCore, ['-a', m.process.url], {TETHER_AGENT_HOSTNAME: 'attacker.test'})).exitCode).toBe(0)
    const attacker = files(attackerCore)
    const before = state(victim.dsaCore)

    // An envelope the attacker made for the victim with openssl, and the other commands of the review.
    const plain = path.join(tempDir(), 'evil.gz')
    fs.writeFileSync(plain, Buffer.from('{"policy":"evil","version":99,"document":{}}'))
    const envelope = path.join(tempDir(), 'evil.der')
    expect((await openssl(['cms', '-encrypt', '-aes256', '-binary', '-outform', 'DER', '-in', plain, '-out', envelope, '-recip', path.join(victim.dsaCore, 'ds_agent.crt'), '-keyopt', 'rsa_padding_mode:oaep'])).exitCode).toBe(0)
    const attacks: Array<[string, Record<string, unknown>]> = [
      ['SetSecurityConfiguration', {envelope: fs.readFileSync(envelope).toString('base64')}],
      ['SetCommunication', {managerAddress: '127.0.0.1:9'}],
      ['AckAgentEvents', {instance: 'x', through: 1_000_000}],
      ['Deactivate', {}],
    ]
    const ca = fs.readFileSync(path.join(m.home, 'ca.crt'), 'utf8')
    for (const [command, body] of attacks) {
      // The TLS handshake itself completes (the chain is the same CA); the agent refuses before reading a byte.
      const socket = await connectTls({host: '127.0.0.1', port: victim.port, ...attacker, ca, rejectUnauthorized: true, checkServerIdentity: () => undefined})
      const session = new HttpSession(socket)
      await expect(session.call(command, body), command).rejects.toThrow()
      session.close()
    }

    const refused = (await agentJournal(victim.dsaCore)).filter((row) => row.reason === 'not-a-manager')
    expect(refused).toHaveLength(attacks.length)
    expect(refused.every((row) => row.result === 'refused' && row.context === 'mutual' && row.peerSha256 === new crypto.X509Certificate(attacker.cert).fingerprint256)).toBe(true)
    expect(state(victim.dsaCore)).toEqual(before)
    // The real manager still commands it.
    expect(json(await tether(['manager', 'computers', 'show', 'victim.test', '--json'], m.env)).state).toBe('activated')
    const contact = json(await tether(['manager', 'send-policy', 'victim.test', '--json'], m.env))
    expect(contact.reason ?? '').not.toMatch(/refused/)
  })

  it('a heartbeat that reaches an agent\'s certificate instead of the manager serves it nothing', async () => {
    const m = await managerWithListener()
    const victimCore = newDsaCore()
    expect((await dsaControl(victimCore, ['-a', m.process.url], {TETHER_AGENT_HOSTNAME: 'victim.test'})).exitCode).toBe(0)
    const attackerCore = newDsaCore()
    expect((await dsaControl(attackerCore, ['-a', m.process.url], {TETHER_AGENT_HOSTNAME: 'attacker.test'})).exitCode).toBe(0)
    // The attacker listens as a "manager" with its own agent certificate and asks for Deactivate.
    let answered = 0
    const server = tls.createServer({...files(attackerCore), requestCert: true, rejectUnauthorized: false}, (socket) => {
      const request = http.request({createConnection: () => socket, method: 'POST', path: '/Deactivate', headers: {'content-length': 0}}, () => answered++)
      request.on('error', () => undefined)
      request.end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const comm = path.join(victimCore, 'ds_agent.comm.json')
      const before = state(victimCore)
      fs.writeFileSync(comm, JSON.stringify({...JSON.parse(fs.readFileSync(comm, 'utf8')), managerAddress: `127.0.0.1:${(server.address() as {port: number}).port}`}))
      const redirected = state(victimCore)
      const beat = await dsaControl(victimCore, ['-m'])
      expect(beat.exitCode).toBe(5)
      expect(beat.stderr).toMatch(/is not this agent's manager: .*has no manager role/)
      expect(answered).toBe(0)
      expect(json(await tether(['agent', 'status', '--json', '--dsa-core', victimCore])).state).toBe('activated')
      expect(state(victimCore)).toEqual(redirected)
      expect(Object.keys(before)).toEqual(Object.keys(redirected))
      expect((await agentJournal(victimCore)).some((row) => row.reason === 'not-a-manager' && row.tlsRole === 'client')).toBe(true)
    } finally {
      server.close()
    }
  })

  it('the manager refuses a manager certificate presented as an agent', async () => {
    const m = await managerWithListener()
    const manager = {cert: fs.readFileSync(path.join(m.home, 'manager.crt'), 'utf8'), key: fs.readFileSync(path.join(m.home, 'manager.key'), 'utf8')}
    const played = await playAgent(m.process.port, manager)
    await played.closed
    expect(played.requests).toEqual([])
    await eventually(async () => (await managerJournal(m.home)).some((row) => row.reason === 'manager-certificate-as-agent'), 5000, 'the refusal journaled')
  })

  it('a revoked manager certificate is refused by agents, from the CRL the manager delivered; a CRL gone stale while offline locks nobody out', async () => {
    const clock = new FakeClock(new Date())
    const {home, env} = await initManager(tempDir())
    const m = await listener(home, {env: clock.env})
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', m.url], clock.env)).exitCode).toBe(0)
    const firstCrl = json(await tether(['agent', 'status', '--json', '--dsa-core', dsaCore])).state
    expect(firstCrl).toBe('activated')
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent_dsm.crl'))).toBe(true)

    // A second manager certificate of the CA (another node, say), then revoked.
    const credentials = new ManagerHome(home).loadCredentials()
    const keys = await generateRsaKeyPair()
    const nodePem = await issueCertificate({profile: 'manager', subject: {commonName: 'node-2', organizationalUnit: 'manager', organization: 'tether'}, publicKeyPem: keys.publicKeyPem, issuerCertPem: credentials.caCertPem, signerKeyPem: credentials.caKeyPem, validityDays: 30})
    const node = new crypto.X509Certificate(nodePem)
    await withStore(home, async (store) => {
      await store.certificates.record({serial: node.serialNumber.toUpperCase(), sha256: node.fingerprint256, subject: node.subject, notBefore: new Date(node.validFrom).toISOString(), notAfter: new Date(node.validTo).toISOString(), pem: nodePem}, new Date())
      expect(await store.certificates.revoke(node.fingerprint256, 'keyCompromise', new Date())).toBe(true)
    })
    // The next heartbeat brings the agent the CRL that lists it (one more exchange, only then).
    expect((await dsaControl(dsaCore, ['-m'], clock.env)).exitCode).toBe(0)
    const daemon = await agent(dsaCore, {env: clock.env})
    const before = state(dsaCore)
    const socket = await connectTls({host: '127.0.0.1', port: daemon.port, cert: nodePem, key: keys.privateKeyPem, ca: credentials.caCertPem, rejectUnauthorized: true, checkServerIdentity: () => undefined})
    const session = new HttpSession(socket)
    await expect(session.call('GetAgentStatus')).rejects.toThrow()
    session.close()
    await eventually(async () => (await agentJournal(dsaCore)).some((row) => row.reason === 'revoked' && row.peerSha256 === node.fingerprint256), 5000, 'the revoked manager refused')
    expect(state(dsaCore)).toEqual(before)
    await daemon.stop()

    // Ten days on (the CRL lasts seven): the agent, offline meanwhile, still accepts its manager and takes a fresh CRL.
    const held = fs.readFileSync(path.join(dsaCore, 'ds_agent_dsm.crl'), 'utf8')
    clock.set(new Date(Date.now() + 10 * 86_400_000))
    const late = await dsaControl(dsaCore, ['-m'], clock.env)
    expect(late.exitCode, late.stderr).toBe(0)
    expect(fs.readFileSync(path.join(dsaCore, 'ds_agent_dsm.crl'), 'utf8')).not.toBe(held)
    expect(json(await tether(['manager', 'crl', '--json'], {...env, ...clock.env})).number).toBeGreaterThan(1)
  })
})

describe('agent-initiated activation: closed by default, tokens, limits', () => {
  it('is off on a new manager; the classic line turns it on, and then every view warns that it is open', async () => {
    const {home, env} = await initManager(tempDir(), [], {agentInitiated: false})
    const m = await listener(home)
    const refused = await dsaControl(newDsaCore(), ['-a', m.url])
    expect(refused.stdout).toContain('HTTP Status: 403 - Forbidden')
    expect(refused.stderr).toContain('agent-initiated activation is turned off')
    expect(json(await tether(['manager', 'show', '--json'], env)).warnings).toEqual([])
    expect((await run('dsm_c', ['-action', 'changesetting', '-name', 'settings.configuration.agentInitiatedActivation', '-value', '1'], env)).exitCode).toBe(0)
    expect(json(await tether(['manager', 'show', '--json'], env)).warnings.map((w: {code: string}) => w.code)).toEqual(['open-enrolment'])
    const listed = await tether(['manager', 'settings', 'list'], env)
    expect(listed.stderr).toMatch(/Warning: agent-initiated activation is on and needs no token/)
    expect((await dsaControl(newDsaCore(), ['-a', m.url])).stdout).toContain('HTTP Status: 200 - OK')
    // The running manager says so in its log too (it logs the warnings once it is listening); one
    // manager runs per home, so the first one stops before it starts again.
    await m.stop()
    const restarted = await listener(home)
    await restarted.stop()
    expect(String((await restarted.child).stderr)).toMatch(/level=warn event=open-enrolment/)
  })

  it('failed attempts are limited per source: past ten a minute the right token is answered 429 unchecked, and accepted after the cooldown', async () => {
    const clock = new FakeClock(new Date())
    const {home, env} = await initManager(tempDir())
    expect((await tether(['manager', 'settings', 'set', 'activationToken', 'the right one'], env)).exitCode).toBe(0)
    const m = await listener(home, {env: clock.env})
    for (let i = 0; i < 10; i++) {
      const wrong = await dsaControl(newDsaCore(), ['-a', m.url, `token:guess ${i}`])
      expect(wrong.stdout, `guess ${i}`).toContain('HTTP Status: 401 - Unauthorized')
    }

    // One attempt: dsa_control would retry a 429 after the cooldown, as it retries what may pass.
    const limited = await dsaControl(newDsaCore(), ['-a', m.url, 'token:the right one', '--max-dsm-retries', '0'])
    expect(limited.stdout).toContain('HTTP Status: 429')
    expect(limited.stderr).toMatch(/too many failed activation attempts from 127\.0\.0\.1/)
    expect((await managerJournal(home)).filter((row) => row.reason === 'rate-limited')).toHaveLength(1)
    expect(await withStore(home, (store) => store.computers.count())).toBe(0)
    clock.set(new Date(Date.now() + 61_000))
    const after = await dsaControl(newDsaCore(), ['-a', m.url, 'token:the right one'])
    expect(after.stdout, after.stderr).toContain('HTTP Status: 200 - OK')
  })

  it('enrolment tokens: used up, expired, revoked, another CA\'s; the token\'s group and policy win; the secret is never stored', async () => {
    const clock = new FakeClock(new Date())
    const a = await initManager(tempDir())
    const b = await initManager(tempDir())
    const ma = await listener(a.home, {env: clock.env})
    const mb = await listener(b.home)
    const policy = path.join(tempDir(), 'p.json')
    fs.writeFileSync(policy, '{"x":1}')
    expect((await tether(['manager', 'policies', 'create', 'from-token', '--file', policy], a.env)).exitCode).toBe(0)
    const created = json(await tether(['manager', 'tokens', 'create', '--uses', '1', '--group', 'web/production', '--policy', 'from-token', '--json'], {...a.env, ...clock.env}))
    expect(created.token).toMatch(/^tt1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/)

    // Another CA's manager is refused by the agent before it sends anything.
    const wrongManager = await dsaControl(newDsaCore(), ['-a', mb.url, `token:${created.token}`])
    expect(wrongManager.exitCode).toBe(5)
    expect(wrongManager.stderr).toMatch(/not a manager of the CA the enrolment token names .*nothing was sent/)
    expect(await withStore(b.home, (store) => store.computers.count())).toBe(0)

    const ok = await dsaControl(newDsaCore(), ['-a', ma.url, `token:${created.token}`, 'group:elsewhere', 'policyid:99'])
    expect(ok.stdout, ok.stderr).toContain('HTTP Status: 200 - OK')
    const [computer] = await withStore(a.home, (store) => store.computers.list())
    expect(computer).toMatchObject({group: 'web/production', policy: 'from-token'})
    const again = await dsaControl(newDsaCore(), ['-a', ma.url, `token:${created.token}`])
    expect(again.stdout).toContain('HTTP Status: 401 - Unauthorized')
    expect(again.stderr).toContain('has been used as many times as it allows')

    const expiring = json(await tether(['manager', 'tokens', 'create', '--ttl', '1m', '--json'], {...a.env, ...clock.env}))
    clock.set(new Date(Date.now() + 5 * 60_000))
    expect((await dsaControl(newDsaCore(), ['-a', ma.url, `token:${expiring.token}`])).stderr).toContain('the enrolment token has expired')
    const revoked = json(await tether(['manager', 'tokens', 'create', '--json'], {...a.env, ...clock.env}))
    expect((await tether(['manager', 'tokens', 'revoke', revoked.id], a.env)).exitCode).toBe(0)
    expect((await dsaControl(newDsaCore(), ['-a', ma.url, `token:${revoked.token}`])).stderr).toContain('the enrolment token was revoked')

    const listed = json(await tether(['manager', 'tokens', 'list', '--json'], {...a.env, ...clock.env})).tokens
    expect(listed.map((t: {state: string}) => t.state).sort()).toEqual(['expired', 'revoked', 'used-up'])
    const secret = created.token.split('.')[1]
    expect(JSON.stringify(listed) + fs.readFileSync(path.join(a.home, 'tether.db')).toString('latin1')).not.toContain(secret)
  })
})

describe('no identity takeover by name', () => {
  it('a host naming itself like an existing computer gets a new computer; the real one keeps its certificate and what was queued for it', async () => {
    const m = await managerWithListener()
    const real = newDsaCore()
    expect((await dsaControl(real, ['-a', m.process.url, 'hostname:db-prod-01'], {TETHER_AGENT_HOSTNAME: 'db-prod-01'})).exitCode).toBe(0)
    const [original] = await withStore(m.home, (store) => store.computers.list())
    const policy = path.join(tempDir(), 'p.json')
    fs.writeFileSync(policy, '{"secret":"for db-prod-01 only"}')
    expect((await tether(['manager', 'policies', 'create', 'db', '--file', policy], m.env)).exitCode).toBe(0)
    expect((await tether(['manager', 'policies', 'assign', 'db', String(original.id)], m.env)).exitCode).toBe(0)

    const intruder = newDsaCore()
    expect((await dsaControl(intruder, ['-a', m.process.url, 'hostname:db-prod-01'], {TETHER_AGENT_HOSTNAME: 'intruder'})).stdout).toContain('HTTP Status: 200 - OK')
    const computers = await withStore(m.home, (store) => store.computers.list())
    expect(computers.map((c) => [c.hostname, c.state])).toEqual([['db-prod-01', 'activated'], ['db-prod-01', 'activated']])
    expect(computers[1].id).not.toBe(original.id)
    expect(await withStore(m.home, (store) => store.certificates.isRevoked(original.certSha256!))).toBe(false)
    // The queued configuration goes to the real agent, never to the newcomer.
    expect((await dsaControl(intruder, ['-m'], {TETHER_AGENT_HOSTNAME: 'intruder'})).exitCode).toBe(0)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', intruder])).configuration).toBeUndefined()
    expect((await dsaControl(real, ['-m'], {TETHER_AGENT_HOSTNAME: 'db-prod-01'})).exitCode).toBe(0)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', real])).configuration).toMatchObject({policy: 'db'})
  })

  it('concurrent claims of one name under refuse make one computer, not four', async () => {
    const m = await managerWithListener()
    expect((await tether(['manager', 'settings', 'set', 'duplicateNamePolicy', 'refuse'], m.env)).exitCode).toBe(0)
    const results = await Promise.all(Array.from({length: 4}, () => dsaControl(newDsaCore(), ['-a', m.process.url, 'hostname:contested.test'])))
    const statuses = results.map((r) => statusOf(r.stdout)).sort()
    expect(statuses).toEqual(['HTTP Status: 200 - OK', 'HTTP Status: 409 - Conflict', 'HTTP Status: 409 - Conflict', 'HTTP Status: 409 - Conflict'])
    expect((await withStore(m.home, (store) => store.computers.list())).map((c) => c.hostname)).toEqual(['contested.test'])
  })
})

describe('deactivation cannot be refused', () => {
  it('an agent that answers Deactivate with an error is revoked all the same, and then refused', async () => {
    const m = await managerWithListener()
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', m.process.url])).exitCode).toBe(0)
    const saved = files(dsaCore)
    const pending = json(await tether(['manager', 'deactivate', '1', '--yes', '--json'], m.env))
    expect(pending.outcome).toBe('deactivation-pending')
    // The agent comes back, is sent Deactivate and nothing else, and refuses it.
    const played = await playAgent(m.process.port, saved, (_req, res) => {
      res.writeHead(500)
      res.end()
    })
    await played.closed
    expect(played.requests).toEqual(['/Deactivate'])
    // The manager finishes the deactivation once the session is over: a moment after it closed.
    const computer = await eventually(async () => {
      const c = await withStore(m.home, async (store) => store.computers.get(1))
      return c?.state === 'deactivated' && c
    }, 10_000, 'the deactivation finished')
    expect(await withStore(m.home, (store) => store.certificates.isRevoked(computer.certSha256!))).toBe(true)
    const again = await playAgent(m.process.port, saved)
    await again.closed
    expect(again.requests).toEqual([])
  })

  it('revocation ends a live session', async () => {
    const m = await managerWithListener()
    const dsaCore = newDsaCore()
    expect((await dsaControl(dsaCore, ['-a', m.process.url])).exitCode).toBe(0)
    // A session held open: the "agent" never answers its first request.
    const played = await playAgent(m.process.port, files(dsaCore), () => undefined)
    await eventually(() => played.requests.length > 0, 5000, 'the first request')
    let ended = false
    void played.closed.then(() => {
      ended = true
    })
    expect(ended).toBe(false)
    expect(json(await tether(['manager', 'deactivate', '1', '--force', '--yes', '--json'], m.env)).outcome).toBe('removed')
    await eventually(() => ended, 10_000, 'the session ended by the revocation')
    expect(played.requests).toEqual(['/GetAgentStatus'])
  })
})
