import fs from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import zlib from 'node:zlib'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {connectTls} from '../src/channel/connect.js'
import {HttpSession} from '../src/channel/http-session.js'
import {ManagerHome} from '../src/manager/home.js'
import {AgentProcess, agent, listener, newDsaCore, startManager} from './agents.js'
import {initManager, json, openssl, run, tempDir, tether} from './helpers.js'
import {agentEvents, withStore} from './stores.js'

/** A raw HTTPS request to an agent, to send bodies the manager never would. */
function rawPost(port: number, command: string, body: Buffer, headers: Record<string, string>, identity: {cert?: string; key?: string} = {}): Promise<{status: number; encoding?: string; body: any}> {
  return new Promise((resolve, reject) => {
    const request = https.request({host: '127.0.0.1', port, method: 'POST', path: `/${command}`, rejectUnauthorized: false, ...identity, headers: {...headers, 'content-length': body.length}}, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (c: Buffer) => chunks.push(c))
      response.on('end', () => {
        const raw = Buffer.concat(chunks)
        const text = response.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw).toString() : raw.toString()
        resolve({status: response.statusCode!, encoding: response.headers['content-encoding'], body: text ? JSON.parse(text) : undefined})
      })
    })
    request.on('error', reject)
    request.end(body)
  })
}

describe('GZIP bodies with hard limits', () => {
  let a: AgentProcess
  beforeAll(async () => {
    a = await agent()
  })

  it('every reply is gzip; a body that is not gzip, a truncated stream and a bomb each get a clear error; the agent keeps serving', async () => {
    const hello = await rawPost(a.port, 'GetHostInfo', zlib.gzipSync('{}'), {'content-encoding': 'gzip'})
    expect(hello).toMatchObject({status: 200, encoding: 'gzip'})

    const plain = await rawPost(a.port, 'GetHostInfo', Buffer.from('{}'), {})
    expect(plain.status).toBe(400)
    expect(plain.body.error.code).toBe('body-not-gzip')

    const whole = zlib.gzipSync(JSON.stringify({padding: 'x'.repeat(10_000)}))
    const truncated = await rawPost(a.port, 'GetHostInfo', whole.subarray(0, whole.length - 12), {'content-encoding': 'gzip'})
    expect(truncated.status).toBe(400)
    expect(truncated.body.error).toMatchObject({code: 'body-corrupt'})
    expect(truncated.body.error.message).toContain('truncated stream')

    // 256 MiB of zeros compresses to about 256 KiB; the cap is 64 MiB decompressed.
    const bomb = zlib.gzipSync(Buffer.alloc(256 * 1024 * 1024), {level: 9})
    const refused = await rawPost(a.port, 'GetHostInfo', bomb, {'content-encoding': 'gzip'})
    expect(refused.status).toBe(413)
    expect(refused.body.error.message).toContain('decompressed body size exceeds the limit')

    expect((await rawPost(a.port, 'GetHostInfo', zlib.gzipSync('{}'), {'content-encoding': 'gzip'})).status).toBe(200)
  })

  it('the manager side caps replies too: a bomb from a fake agent is a protocol error', async () => {
    const dir = tempDir()
    const {home} = await initManager(dir)
    const creds = new ManagerHome(home).loadCredentials()
    const bomb = zlib.gzipSync(Buffer.alloc(128 * 1024 * 1024))
    const server = https.createServer({cert: creds.managerCertPem, key: creds.managerKeyPem}, (_req, res) => {
      // Framed as a tether agent frames replies (Content-Length): the decompressed cap is what refuses it.
      res.writeHead(200, {'content-encoding': 'gzip', 'content-length': bomb.length})
      res.end(bomb)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const socket = await connectTls({host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, rejectUnauthorized: false})
      const session = new HttpSession(socket)
      await expect(session.call('GetHostInfo')).rejects.toMatchObject({code: 'body-too-large'})
      session.close()
    } finally {
      server.close()
    }
  })
})

describe('policies and PKCS#7-encrypted configuration', () => {
  let home: string
  let env: Record<string, string>
  let a: AgentProcess
  let computerId: number
  const policyFile = () => {
    const file = path.join(tempDir(), 'policy.json')
    fs.writeFileSync(file, JSON.stringify({firewall: {enabled: true, rules: ['allow 22/tcp']}, note: 'production — 本番'}))
    return file
  }

  beforeAll(async () => {
    ;({home, env} = await initManager(tempDir()))
    a = await agent()
    computerId = json(await tether(['manager', 'activate', a.address, '--json'], env)).computer.id
  })

  const status = async () => json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore]))
  const computer = async () => json(await tether(['manager', 'computers', 'show', String(computerId), '--json'], env))

  it('assign queues, send-policy pushes now; both sides report the same version and fingerprint', async () => {
    const created = json(await tether(['manager', 'policies', 'create', 'web', '--file', policyFile(), '--json'], env))
    expect(created.policy).toMatchObject({name: 'web', version: 1})
    expect((await tether(['manager', 'policies', 'create', 'web', '--file', policyFile()], env)).exitCode).toBe(4)
    expect(json(await tether(['manager', 'policies', 'assign', 'web', String(computerId), '--json'], env)).policy.version).toBe(1)
    expect((await computer()).configuration.upToDate).toBe(false)

    const sent = json(await tether(['manager', 'send-policy', String(computerId), '--json'], env))
    expect(sent).toMatchObject({delivered: true, configuration: {upToDate: true, desiredVersion: 1}})
    expect((await status()).configuration).toMatchObject({policy: 'web', version: 1, sha256: created.policy.sha256})
    // The agent's configuration-applied event came back in the same contact.
    expect(json(await tether(['manager', 'events', '--type', 'configuration-applied', '--json'], env)).events).toHaveLength(1)
    expect((await tether(['agent', 'status', '--dsa-core', a.dsaCore])).stdout).toMatch(/Configuration: +web version 1, SHA-256 [0-9a-f]{64}/)
    expect((await computer()).configuration).toMatchObject({upToDate: true, applied: {version: 1, sha256: created.policy.sha256}})
    expect(fs.statSync(path.join(a.dsaCore, 'ds_agent.config')).mode & 0o777).toBe(0o600)

    // A new version: out of date until sent.
    expect(json(await tether(['manager', 'policies', 'create', 'web', '--file', policyFile(), '--replace', '--json'], env))).toMatchObject({policy: {version: 2}, queued: 1})
    expect((await computer()).configuration.upToDate).toBe(false)
    expect(json(await tether(['manager', 'send-policy', String(computerId), '--json'], env)).delivered).toBe(true)
    expect((await status()).configuration.version).toBe(2)
  })

  it('openssl cms -decrypt with the agent key, then cms -verify with the CA, recovers the configuration the manager signed', async () => {
    const dir = tempDir()
    const signed = path.join(dir, 'config.signed')
    const result = await openssl(['cms', '-decrypt', '-inform', 'PEM', '-in', path.join(a.dsaCore, 'ds_agent.config'), '-recip', path.join(a.dsaCore, 'ds_agent.crt'), '-inkey', path.join(a.dsaCore, 'ds_agent.key'), '-binary', '-out', signed])
    expect(result.exitCode, result.stderr).toBe(0)
    const out = path.join(dir, 'config.gz')
    const verified = await openssl(['cms', '-verify', '-inform', 'DER', '-in', signed, '-CAfile', path.join(home, 'ca.crt'), '-binary', '-out', out, '-signer', path.join(dir, 'signer.pem')])
    expect(verified.exitCode, verified.stderr).toBe(0)
    expect(verified.stderr).toContain('Verification successful')
    // The signer is the manager: its certificate carries the manager role.
    expect((await openssl(['x509', '-in', path.join(dir, 'signer.pem'), '-noout', '-ext', 'extendedKeyUsage'])).stdout).toContain('2.25.10326813036734044813373435100299546511')
    const configuration = JSON.parse(zlib.gunzipSync(fs.readFileSync(out)).toString('utf8'))
    expect(configuration).toEqual({policy: 'web', version: 2, document: {firewall: {enabled: true, rules: ['allow 22/tcp']}, note: 'production — 本番'}})
  })

  it('accepts an envelope made by openssl cms -sign (a manager certificate) then -encrypt; refuses unsigned, agent-signed, other recipients, tampering and garbage, keeping the configuration in force', async () => {
    const creds = new ManagerHome(home).loadCredentials()
    const send = async (envelope: Buffer) => {
      const socket = await connectTls({host: '127.0.0.1', port: a.port, cert: creds.managerCertPem, key: creds.managerKeyPem, ca: creds.caCertPem, rejectUnauthorized: true, checkServerIdentity: () => undefined})
      const session = new HttpSession(socket)
      try {
        return await session.call<any>('SetSecurityConfiguration', {envelope: envelope.toString('base64')})
      } finally {
        session.close()
      }
    }

    const dir = tempDir()
    const gzipped = path.join(dir, 'config.gz')
    fs.writeFileSync(gzipped, zlib.gzipSync(JSON.stringify({policy: 'from-openssl', version: 7, document: {hello: 'world'}})))
    const encryptFor = async (input: string, out: string, recipient = path.join(a.dsaCore, 'ds_agent.crt')) => {
      const encrypt = await openssl(['cms', '-encrypt', '-aes256', '-binary', '-outform', 'DER', '-in', input, '-out', out, '-recip', recipient, '-keyopt', 'rsa_padding_mode:oaep'])
      expect(encrypt.exitCode, encrypt.stderr).toBe(0)
      return out
    }

    const signWith = async (cert: string, key: string, out: string) => {
      const sign = await openssl(['cms', '-sign', '-nodetach', '-binary', '-outform', 'DER', '-in', gzipped, '-signer', cert, '-inkey', key, '-out', out])
      expect(sign.exitCode, sign.stderr).toBe(0)
      return out
    }

    // Unsigned: anyone may encrypt to an agent's certificate, so this is refused.
    const unsigned = await send(fs.readFileSync(await encryptFor(gzipped, path.join(dir, 'unsigned.der'))))
    expect(unsigned.status).toBe(403)
    expect(unsigned.body.error.code).toBe('configuration-unsigned')
    // Signed by an agent of the same CA (no manager role): refused too.
    const byAgent = await send(fs.readFileSync(await encryptFor(await signWith(path.join(a.dsaCore, 'ds_agent.crt'), path.join(a.dsaCore, 'ds_agent.key'), path.join(dir, 'by-agent.p7')), path.join(dir, 'by-agent.der'))))
    expect(byAgent.status).toBe(403)
    expect(byAgent.body.error.code).toBe('configuration-signer-refused')
    expect((await status()).configuration).toMatchObject({policy: 'web', version: 2})

    const plain = await signWith(path.join(home, 'manager.crt'), path.join(home, 'manager.key'), path.join(dir, 'signed.p7'))
    const made = await encryptFor(plain, path.join(dir, 'made.der'))
    const accepted = await send(fs.readFileSync(made))
    expect(accepted.status).toBe(200)
    expect((await status()).configuration).toMatchObject({policy: 'from-openssl', version: 7})
    const inForce = fs.readFileSync(path.join(a.dsaCore, 'ds_agent.config'))

    const otherRecipient = path.join(dir, 'other.der')
    await openssl(['cms', '-encrypt', '-aes256', '-binary', '-outform', 'DER', '-in', plain, '-out', otherRecipient, '-recip', path.join(home, 'manager.crt'), '-keyopt', 'rsa_padding_mode:oaep'])
    const tampered = Buffer.from(fs.readFileSync(made))
    tampered[tampered.length - 3] ^= 0x40
    const cases: Array<[string, Buffer, string]> = [
      ['another recipient', fs.readFileSync(otherRecipient), 'envelope-not-for-this-agent'],
      ['tampered', tampered, 'envelope-decrypt-failed'],
      ['garbage', Buffer.from('not an envelope at all'), 'envelope-malformed'],
    ]
    for (const [label, envelope, code] of cases) {
      const reply = await send(envelope)
      expect(reply.status, label).not.toBe(200)
      expect(reply.body.error.code, label).toBe(code)
      expect(fs.readFileSync(path.join(a.dsaCore, 'ds_agent.config')).equals(inForce), label).toBe(true)
      expect((await status()).configuration.policy, label).toBe('from-openssl')
    }
  })
})

describe('events are picked up once, whoever is killed between pull and acknowledgement', () => {
  /** An event as both sides describe it: when, what, and its detail. */
  const described = (events: Array<{at: string; type: string; detail: unknown}>) => events.map((e) => `${e.at} ${e.type} ${JSON.stringify(e.detail)}`)
  const managerEvents = async (home: string) => described(await withStore(home, (store) => store.events.list({})))
  const waitingEvents = async (dsaCore: string) => described(await agentEvents(dsaCore))

  /** An agent activated agent-initiated (so it heartbeats), with some events waiting. */
  async function setup() {
    const {home, env} = await initManager(tempDir())
    const dsaCore = newDsaCore()
    const manager = await listener(home)
    expect((await run('dsa_control', ['-a', manager.url], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test'})).exitCode).toBe(0)
    await manager.stop()
    return {home, env, dsaCore, port: manager.port}
  }

  for (const point of ['manager-events:pulled', 'manager-events:stored']) {
    it(`manager killed at ${point}`, async () => {
      const {home, env, dsaCore, port} = await setup()
      const waiting = await waitingEvents(dsaCore)
      expect(waiting.length).toBeGreaterThan(0)
      const doomed = await startManager(home, {env: {TETHER_FAILPOINT: point}, port})
      // The agent only answers; to it, a manager that dies mid-contact is a closed connection.
      await run('dsa_control', ['-m'], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test'})
      expect((await doomed.child).signal).toBe('SIGKILL')
      expect(await waitingEvents(dsaCore)).toEqual(waiting)

      const manager = await listener(home, {port})
      expect((await run('dsa_control', ['-m'], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test'})).exitCode).toBe(0)
      // Every waiting event stored once (a duplicate would be counted twice), and none left on the agent.
      const stored = await managerEvents(home)
      expect(waiting.map((event) => stored.filter((s) => s === event).length)).toEqual(waiting.map(() => 1))
      expect(await waitingEvents(dsaCore)).toEqual([])
      const listed = json(await tether(['manager', 'events', '--json'], env)).events
      expect(listed.map((e: {type: string}) => e.type)).toContain('activated')
      await manager.stop()
    })
  }

  for (const point of ['agent-events:pulled', 'agent-events:ack-received']) {
    it(`agent killed at ${point}`, async () => {
      const {home, dsaCore, port} = await setup()
      const waiting = await waitingEvents(dsaCore)
      const manager = await listener(home, {port})
      const doomed = await run('dsa_control', ['-m'], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test', TETHER_FAILPOINT: point})
      expect(doomed.exitCode).not.toBe(0)
      expect(await waitingEvents(dsaCore)).toEqual(waiting)

      const again = await run('dsa_control', ['-m'], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test'})
      expect(again.exitCode, again.stderr).toBe(0)
      // Every waiting event stored once (a duplicate would be counted twice), and none left on the agent.
      const stored = await managerEvents(home)
      expect(waiting.map((event) => stored.filter((s) => s === event).length)).toEqual(waiting.map(() => 1))
      expect(await waitingEvents(dsaCore)).toEqual([])
      await manager.stop()
    })
  }

  it('records activation, refused handshakes and commands, and reset; filters work', async () => {
    const {home, env, dsaCore, port} = await setup()
    const manager = await listener(home, {port})
    const daemon = await agent(dsaCore)
    // A refused handshake on the agent's own port: no client certificate.
    await new Promise<void>((resolve) => {
      const socket = net.connect(daemon.port, '127.0.0.1', () => socket.end('not TLS at all'))
      socket.on('close', () => resolve())
      socket.on('error', () => resolve())
    })
    await connectTls({host: '127.0.0.1', port: daemon.port, rejectUnauthorized: false}).then((s) => new Promise((resolve) => {
      s.on('close', resolve)
      s.on('error', resolve)
    }), () => undefined)
    // A refused command: an activation command over the mutual context.
    const creds = new ManagerHome(home).loadCredentials()
    const mutual = new HttpSession(await connectTls({host: '127.0.0.1', port: daemon.port, cert: creds.managerCertPem, key: creds.managerKeyPem, rejectUnauthorized: false}))
    expect((await mutual.call('GenerateAgentCSR')).status).toBe(409)
    mutual.close()
    expect((await run('dsa_control', ['-m'], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test'})).exitCode).toBe(0)
    const types = json(await tether(['manager', 'events', '--computer', 'agent.test', '--json'], env)).events.map((e: {type: string}) => e.type)
    expect(types).toContain('activated')
    expect(types).toContain('handshake-refused')
    expect(types).toContain('command-refused')

    // Reset, then reactivation: the reset event waited on the agent and is picked up after.
    await daemon.stop()
    expect((await run('dsa_control', ['-r'], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test'})).exitCode).toBe(0)
    expect((await run('dsa_control', ['-a', manager.url], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test'})).exitCode).toBe(0)
    expect((await run('dsa_control', ['-m'], {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: 'agent.test'})).exitCode).toBe(0)
    // A reset agent that activates again is a new computer (it cannot prove it is the old one).
    const again = (await withStore(home, (store) => store.computers.list())).filter((c) => c.hostname === 'agent.test')
    expect(again.map((c) => c.state)).toEqual(['activated', 'activated'])
    const after = json(await tether(['manager', 'events', '--computer', String(again[1].id), '--json'], env)).events.map((e: {type: string}) => e.type)
    expect(after).toContain('reset')
    expect(json(await tether(['manager', 'events', '--type', 'activated', '--json'], env)).events).toHaveLength(2)
    const refusedOnly = json(await tether(['manager', 'events', '--type', 'handshake-refused', '--json'], env)).events
    expect(refusedOnly.length).toBeGreaterThan(0)
    expect(refusedOnly.every((e: {type: string}) => e.type === 'handshake-refused')).toBe(true)
    expect(json(await tether(['manager', 'events', '--since', '2999-01-01T00:00:00Z', '--json'], env)).events).toEqual([])
    expect((await tether(['manager', 'events', '--since', 'yesterday'], env)).exitCode).toBe(2)
    await manager.stop()
  })
})
