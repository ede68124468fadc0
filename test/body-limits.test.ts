import crypto from 'node:crypto'
import fs from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import {Readable} from 'node:stream'
import zlib from 'node:zlib'

import {beforeAll, describe, expect, it} from 'vitest'

import {parseReply} from '../src/protocol/messages.js'
import {DEFAULT_LIMITS, UNAUTHENTICATED_LIMITS, decodeBody} from '../src/protocol/codec.js'
import {bootstrapIdentity} from '../src/pki/bootstrap.js'
import {generateRsaKeyPair} from '../src/pki/keys.js'
import {MAX_CSR_BYTES, createCsr, readCsr} from '../src/pki/x509.js'
import {agent, listener} from './agents.js'
import {bombAgent, bombManager, gzipBomb, mib, rssBytes, sampleRss} from './flood.js'
import {eventually, initManager, json, tempDir, tether} from './helpers.js'

/**
 * Body limits by trust. A peer that proved nothing (the bootstrap key is public) gets 256 KiB
 * caps; only the mutual context keeps the configuration-sized ones. Decoding is streamed and
 * stops at the cap, so a flood of gzip bombs costs the target a bounded amount of memory.
 *
 * The bound: RSS under the flood stays within RSS_HEADROOM of the idle process. The caps let 40
 * connections hold at most 40 x 256 KiB = 10 MiB of decompressed bytes, plus their TLS, zlib and
 * HTTP buffers (well under 1 MiB each); the rest of the headroom is garbage V8 has not collected
 * yet. Measured with 40 concurrent 64 MiB bombs before the caps: an unactivated agent peaked at
 * 3146 MiB and a manager heartbeat listener at 3516 MiB (idle: 108 MiB); after: 164 MiB and
 * 197 MiB. A regression to the old caps cannot stay under the bound.
 */

const MiB = 1024 * 1024
const RSS_HEADROOM = 256 * MiB
const bomb = gzipBomb()

/** Run until at least `count` more bombs were answered. */
async function bombsAnswered(flood: {sent: number}, count: number): Promise<void> {
  const target = flood.sent + count
  await eventually(() => flood.sent >= target, 120_000, () => `${count} bombs answered (${flood.sent} so far)`)
}

describe('40 concurrent 64 MiB gzip bombs from the bootstrap identity', () => {
  it('at an unactivated agent: RSS stays bounded, every bomb gets 413, and a real manager activates it during the flood', async () => {
    const [a, {env}] = await Promise.all([agent(), initManager(tempDir())])
    const pid = a.child.pid!
    const idle = rssBytes(pid)
    const sampler = sampleRss(pid)
    const flood = bombAgent(a.port, bomb, 40)
    await bombsAnswered(flood, 200)
    const started = Date.now()
    const activated = await tether(['manager', 'activate', a.address, '--json'], env)
    const activationMs = Date.now() - started
    await bombsAnswered(flood, 40)
    await flood.stop()
    const {max} = sampler.stop()
    console.log(`agent RSS: idle ${mib(idle)} MiB, peak ${mib(max)} MiB under ${flood.sent} bombs; activation took ${activationMs} ms`)

    expect(activated.exitCode, activated.stderr).toBe(0)
    expect(json(activated).computer.hostname).toBe('agent.test')
    expect(flood.outcomes.get('413')).toBeGreaterThanOrEqual(200)
    expect(max - idle).toBeLessThan(RSS_HEADROOM)

    // The mutual context keeps configuration-sized caps: a 3 MiB policy (1.5 MiB gzip) arrives.
    const policy = path.join(tempDir(), 'big.json')
    fs.writeFileSync(policy, JSON.stringify({blob: crypto.randomBytes(1536 * 1024).toString('hex')}))
    expect((await tether(['manager', 'policies', 'create', 'big', '--file', policy], env)).exitCode).toBe(0)
    expect((await tether(['manager', 'policies', 'assign', 'big', '1'], env)).exitCode).toBe(0)
    const sent = await tether(['manager', 'send-policy', '1', '--json'], env)
    expect(sent.exitCode, sent.stderr).toBe(0)
    expect(json(await tether(['agent', 'status', '--json', '--dsa-core', a.dsaCore])).configuration).toMatchObject({policy: 'big', version: 1})
  }, 240_000)

  it('at a manager heartbeat listener (agent-initiated activation on): RSS stays bounded and a real agent heartbeats during the flood', async () => {
    const {home, env} = await initManager(tempDir())
    expect((await tether(['manager', 'settings', 'set', 'agentInitiatedActivation', 'any'], env)).exitCode).toBe(0)
    const m = await listener(home)
    const a = await agent()
    expect((await tether(['manager', 'activate', a.address], env)).exitCode).toBe(0)
    const pid = m.child.pid!
    const idle = rssBytes(pid)
    const sampler = sampleRss(pid)
    const flood = bombManager(m.port, bomb, 40)
    await bombsAnswered(flood, 200)
    const started = Date.now()
    const beat = await tether(['agent', 'heartbeat', '--dsa-core', a.dsaCore, '--json'])
    const beatMs = Date.now() - started
    await bombsAnswered(flood, 40)
    await flood.stop()
    const {max} = sampler.stop()
    console.log(`manager RSS: idle ${mib(idle)} MiB, peak ${mib(max)} MiB under ${flood.sent} bombs; heartbeat took ${beatMs} ms`)

    expect(beat.exitCode, beat.stdout + beat.stderr).toBe(0)
    expect(beatMs).toBeLessThan(10_000)
    expect(max - idle).toBeLessThan(RSS_HEADROOM)
    expect(m.child.exitCode).toBeNull()
  }, 240_000)
})

/** A gzip stream of `members` concatenated members of 1 MiB of zeros (valid gzip), handed out in small pieces, counting what was read. */
function countingBomb(members: number): {source: Readable; pulled(): number; total: number; member: number} {
  const member = zlib.gzipSync(Buffer.alloc(MiB), {level: 9})
  let pulled = 0
  let sent = 0
  const source = new Readable({
    read() {
      if (sent === members) return void this.push(null)
      sent++
      pulled += member.length
      this.push(member)
    },
  })
  return {source, pulled: () => pulled, total: member.length * members, member: member.length}
}

describe('the body codec', () => {
  it('unauthenticated caps: 256 KiB decompressed passes, one byte more is refused', async () => {
    const fits = JSON.stringify({pad: 'x'.repeat(UNAUTHENTICATED_LIMITS.maxDecompressedBytes - 10)})
    expect(Buffer.byteLength(fits)).toBe(UNAUTHENTICATED_LIMITS.maxDecompressedBytes)
    const decoded = await decodeBody<{pad: string}>(Readable.from([zlib.gzipSync(fits)]), 'gzip', UNAUTHENTICATED_LIMITS)
    expect(decoded.pad).toHaveLength(fits.length - 10)
    const over = JSON.stringify({pad: 'x'.repeat(UNAUTHENTICATED_LIMITS.maxDecompressedBytes - 9)})
    await expect(decodeBody(Readable.from([zlib.gzipSync(over)]), 'gzip', UNAUTHENTICATED_LIMITS)).rejects.toMatchObject({code: 'body-too-large'})
  })

  it.each([
    ['unauthenticated', UNAUTHENTICATED_LIMITS],
    ['mutual', DEFAULT_LIMITS],
  ])('%s: a 1 GiB bomb is refused after reading a small part of it (decoding stops at the cap)', async (_name, limits) => {
    const {source, pulled, total, member} = countingBomb(1024)
    await expect(decodeBody(source, 'gzip', limits)).rejects.toMatchObject({code: 'body-too-large'})
    const capMembers = Math.ceil(limits.maxDecompressedBytes / MiB)
    // What was read: the members up to the cap, plus the pipeline's read-ahead (its buffers, 16 KiB a stage).
    expect(pulled()).toBeLessThan(capMembers * member + 128 * 1024)
    expect(pulled()).toBeLessThan(total / 4)
  })
})

describe('CSRs over 16 KiB are refused before parsing', () => {
  it('readCsr: an oversized request is refused by size, not parsed; a real one is read', async () => {
    const garbage = `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(MAX_CSR_BYTES)}\n-----END CERTIFICATE REQUEST-----\n`
    await expect(readCsr(garbage)).rejects.toMatchObject({code: 'csr-too-large', failure: 'refused'})
    // The same garbage under the limit reaches the parser, which refuses it for what it is.
    await expect(readCsr(garbage.slice(0, MAX_CSR_BYTES))).rejects.toMatchObject({code: 'invalid-csr'})
    const keys = await generateRsaKeyPair()
    const csr = await createCsr({commonName: 'web-01.test'}, keys.publicKeyPem, keys.privateKeyPem)
    expect((await readCsr(csr)).commonName).toBe('web-01.test')
  })

  it('the GenerateAgentCSR reply schema counts bytes, not characters', () => {
    expect(() => parseReply('GenerateAgentCSR', {csr: 'A'.repeat(MAX_CSR_BYTES)})).not.toThrow()
    // 6000 characters, 18000 bytes in UTF-8.
    expect(() => parseReply('GenerateAgentCSR', {csr: '€'.repeat(6000)})).toThrow(/GenerateAgentCSR/)
  })

  let env: Record<string, string>
  beforeAll(async () => {
    ;({env} = await initManager(tempDir()))
  })

  it.each([
    ['17 KiB of ASCII', 'A'.repeat(17 * 1024)],
    ['6000 three-byte characters', '€'.repeat(6000)],
  ])('end to end: an "agent" whose GenerateAgentCSR reply holds %s is refused by the manager before parsing it, nothing recorded', async (_what, csr) => {
    const {certPem, keyPem} = bootstrapIdentity()
    let asked = ''
    const fake = https.createServer({cert: certPem, key: keyPem}, (req, res) => {
      req.resume()
      asked += `${req.url} `
      const hostInfo = {hostname: 'fake.test', platform: 'linux', osRelease: '6', arch: 'x64', agentVersion: '0.1.0', state: 'unactivated', clock: new Date().toISOString(), certificateSha256: bootstrapIdentity().sha256}
      const body = zlib.gzipSync(JSON.stringify(req.url === '/GetHostInfo' ? hostInfo : {csr}))
      res.writeHead(200, {'content-encoding': 'gzip', 'content-length': body.length}).end(body)
    })
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
    try {
      const result = await tether(['manager', 'activate', `127.0.0.1:${(fake.address() as net.AddressInfo).port}`], env)
      expect(result.exitCode).toBe(5)
      expect(result.stderr).toContain("GenerateAgentCSR: the agent's reply does not match the protocol (csr:")
      expect(asked).toBe('/GetHostInfo /GenerateAgentCSR ')
    } finally {
      fake.close()
    }

    expect(json(await tether(['manager', 'computers', 'list', '--json'], env)).computers).toEqual([])
  })
})
