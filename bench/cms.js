// Configuration envelope (CMS EnvelopedData, AES-256-CBC + RSA-OAEP-SHA-256 to a 2048-bit agent
// key) build and open throughput, beside `openssl cms -encrypt` / `-decrypt` on the same payload,
// certificate and key, measured interleaved in the same run.
//
// payload "random": random bytes, standing in for the gzip-compressed JSON the product envelopes
// (gzip output is incompressible too), so these rows measure the envelope alone. tether builds and
// opens in memory (certificate and key already parsed); openssl is a process that parses the PEM
// files and reads and writes the payload as files (page cache). Columns:
//   tether_*            buildEnvelope / openEnvelope, in process
//   openssl_*           the whole `openssl cms` process, wall time of a synchronous spawn
//   openssl_floor_ms    per-process floor: `openssl version`, same interleaving (process start and
//                       library load, no cryptography)
//   openssl_net_*       openssl_ms minus the floor
//   x_openssl(_net)     tether MiB/s over openssl (net) MiB/s: above 1, tether is faster
// The "1 B" rows are each side's fixed cost per envelope (certificate parse, RSA-OAEP wrap or
// unwrap, DER), where MiB/s means nothing. Both decryptions open the same tether-built envelope.
// openssl is spawned and timed by a small separate Node process (the spawner), one command at a
// time on request, not by this one: a fork from this process, which holds 10 MiB buffers, costs
// more as it grows (the floor rose from 4 to 16 ms), and leaves its heap copy-on-write, so the next
// tether build took page faults on every page it wrote (10 MiB build time roughly doubled). Measured
// sequentially all the same: nothing runs while either side is timed.
//
// payload "json+gzip": a generated security-configuration JSON document of the stated size,
// gzipped (level 6, as the protocol codec) then enveloped, and opened then gunzipped, with gzip and
// gunzip alone beside; MiB/s is of the JSON. tether only: openssl has no counterpart here.
//
// "sign+build" rows: a configuration is signed, then encrypted (src/manager/policies.ts
// configurationCommandBody: src/pki/signed-data.ts signData, then src/pki/cms.ts buildEnvelope), so
// the reference is openssl's two steps, `openssl cms -sign -nodetach` (SHA-256, the signer's
// certificate included, RSA-2048 signer as the manager's key) then `openssl cms -encrypt` of its
// output; openssl_ms is the sum of the two processes and openssl_net_ms subtracts two floors.
//
// Correctness is checked inside the run: per size, openssl decrypts tether's envelope and tether
// opens openssl's to the original bytes (for sign+build: openssl decrypts and verifies tether's
// against the CA, tether opens and verifies openssl's), and every timed open and decrypt output is
// compared too. --quick: fewer runs per size.
import {spawn} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import zlib from 'node:zlib'

import {buildEnvelope, openEnvelope} from '../dist/pki/cms.js'
import {generateRsaKeyPair} from '../dist/pki/keys.js'
import {signData, verifySignedData} from '../dist/pki/signed-data.js'
import {issueCertificate} from '../dist/pki/x509.js'
import {median, round} from './lib.js'

export const name = 'cms'

const KiB = 1024
const MiB = 1024 * KiB
// runs: full, quick.
const SIZES = [
  {label: '1 B', bytes: 1, runs: [30, 8]},
  {label: '64 KiB', bytes: 64 * KiB, runs: [30, 8]},
  {label: '1 MiB', bytes: MiB, runs: [20, 5]},
  {label: '10 MiB', bytes: 10 * MiB, runs: [10, 3]},
]
const JSON_SIZES = [
  {label: '64 KiB', bytes: 64 * KiB, runs: [30, 8]},
  {label: '1 MiB', bytes: MiB, runs: [20, 5]},
  {label: '10 MiB', bytes: 10 * MiB, runs: [7, 3]},
]

const tick = () => new Promise((resolve) => setImmediate(resolve)) // let a Ctrl-C handler run

// The spawner: times one `openssl` command per message with spawnSync and answers {ms} or {error}.
const SPAWNER = `
import {spawnSync} from 'node:child_process'
import {performance} from 'node:perf_hooks'
process.on('message', ({args, cwd}) => {
  const start = performance.now()
  const result = spawnSync('openssl', args, {cwd, encoding: 'utf8'})
  const ms = performance.now() - start
  const failed = result.error ? result.error.message : result.status === 0 ? undefined : 'exited ' + (result.signal ?? result.status) + ': ' + result.stderr.trim()
  process.send(failed ? {error: 'openssl ' + args.join(' ') + ' ' + failed} : {ms})
})
process.on('disconnect', () => process.exit(0))
`

/** Start the spawner; `time(args)` resolves to the wall ms of `openssl ...args` (rejects if it fails). */
function startSpawner(cwd) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SPAWNER], {cwd, stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
  let pending
  const gone = new Promise((resolve) => child.once('exit', resolve))
  child.on('message', (reply) => {
    const p = pending
    pending = undefined
    if (reply.error) p?.reject(new Error(reply.error))
    else p?.resolve(reply.ms)
  })
  child.once('exit', (code, signal) => pending?.reject(new Error(`the openssl spawner exited (${signal ?? code})`)))
  return {
    time: (args) => new Promise((resolve, reject) => {
      pending = {resolve, reject}
      child.send({args, cwd})
    }),
    stop: async () => {
      if (child.connected) child.disconnect()
      await gone
    },
    kill: () => child.kill(),
  }
}

function timed(fn) {
  const start = performance.now()
  const value = fn()
  return {ms: performance.now() - start, value}
}

export async function run({quick = false} = {}) {
  const runsOf = (size) => ({...size, runs: size.runs[quick ? 1 : 0]})
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-cms-'))
  const spawner = startSpawner(work)
  const interrupted = (signal) => {
    spawner.kill()
    fs.rmSync(work, {recursive: true, force: true})
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  try {
    const agent = await recipient(work)
    const openssl = spawner.time
    const rows = []
    for (const size of SIZES.map(runsOf)) {
      rows.push(...(await envelopeRows(size, crypto.randomBytes(size.bytes), agent, work, openssl)))
    }

    for (const size of JSON_SIZES.map(runsOf)) rows.push(...(await gzipRows(size, agent)))
    return rows
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    await spawner.stop()
    fs.rmSync(work, {recursive: true, force: true})
  }
}

/**
 * A CA-issued agent certificate and key (the recipient) and a manager certificate and key (the
 * signer), as files for openssl and objects for tether.
 */
async function recipient(work) {
  const caKeys = await generateRsaKeyPair()
  const caPem = await issueCertificate({profile: 'ca', subject: {commonName: 'bench CMS CA'}, publicKeyPem: caKeys.publicKeyPem, signerKeyPem: caKeys.privateKeyPem, validityDays: 1})
  const caFile = path.join(work, 'ca.crt')
  fs.writeFileSync(caFile, caPem)
  const issue = async (profile, name) => {
    const keys = await generateRsaKeyPair()
    const certPem = await issueCertificate({profile, subject: {commonName: name}, publicKeyPem: keys.publicKeyPem, issuerCertPem: caPem, signerKeyPem: caKeys.privateKeyPem, validityDays: 1})
    const certFile = path.join(work, `${name}.crt`)
    const keyFile = path.join(work, `${name}.key`)
    fs.writeFileSync(certFile, certPem)
    fs.writeFileSync(keyFile, keys.privateKeyPem, {mode: 0o600})
    return {certFile, keyFile, certificate: new crypto.X509Certificate(certPem), key: crypto.createPrivateKey(keys.privateKeyPem)}
  }

  return {...(await issue('agent', 'bench-agent')), caFile, signer: await issue('manager', 'bench-manager')}
}

async function envelopeRows(size, payload, agent, work, openssl) {
  const plain = path.join(work, 'plain.bin')
  const theirs = path.join(work, 'openssl.der')
  const ours = path.join(work, 'tether.der')
  const out = path.join(work, 'plain.out')
  fs.writeFileSync(plain, payload)
  const encryptArgs = ['cms', '-encrypt', '-aes256', '-binary', '-outform', 'DER', '-in', plain, '-out', theirs, '-recip', agent.certFile, '-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256']
  const decryptArgs = ['cms', '-decrypt', '-inform', 'DER', '-in', ours, '-recip', agent.certFile, '-inkey', agent.keyFile, '-out', out]
  const same = (bytes, what) => {
    if (bytes.equals(payload)) return
    const at = bytes.length === payload.length ? `, first difference at byte ${bytes.findIndex((b, i) => b !== payload[i])}` : ''
    throw new Error(`${size.label}: ${what} does not give back the payload (${bytes.length} bytes, expected ${payload.length}${at})`)
  }

  // Cross-check once (also the warm-up): openssl opens ours, we open openssl's.
  const envelope = buildEnvelope(payload, agent.certificate)
  fs.writeFileSync(ours, envelope)
  await openssl(decryptArgs)
  same(fs.readFileSync(out), 'openssl cms -decrypt of the tether envelope')
  await openssl(encryptArgs)
  const opened = openEnvelope(fs.readFileSync(theirs), agent.certificate, agent.key)
  same(opened.content, 'tether open of the openssl envelope')
  if (opened.keyTransport !== 'rsaes-oaep-sha256' || opened.contentEncryption !== 'aes-256-cbc') {
    throw new Error(`${size.label}: openssl made ${opened.contentEncryption} with ${opened.keyTransport}, expected aes-256-cbc with rsaes-oaep-sha256`)
  }

  // Signed, then encrypted: the configuration's path. Cross-checked both ways as well.
  const {signer} = agent
  const signed = path.join(work, 'signed.der')
  const theirsSigned = path.join(work, 'openssl-signed.der')
  const signArgs = ['cms', '-sign', '-nodetach', '-binary', '-md', 'sha256', '-nosmimecap', '-outform', 'DER', '-in', plain, '-signer', signer.certFile, '-inkey', signer.keyFile, '-out', signed]
  const encryptSignedArgs = ['cms', '-encrypt', '-aes256', '-binary', '-outform', 'DER', '-in', signed, '-out', theirsSigned, '-recip', agent.certFile, '-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256']
  const signAndBuild = () => buildEnvelope(signData(payload, signer.certificate, signer.key), agent.certificate)
  const oursSigned = path.join(work, 'tether-signed.der')
  fs.writeFileSync(oursSigned, signAndBuild())
  const decryptedSigned = path.join(work, 'signed.out')
  await openssl(['cms', '-decrypt', '-inform', 'DER', '-in', oursSigned, '-recip', agent.certFile, '-inkey', agent.keyFile, '-out', decryptedSigned])
  await openssl(['cms', '-verify', '-inform', 'DER', '-in', decryptedSigned, '-CAfile', agent.caFile, '-binary', '-out', out])
  same(fs.readFileSync(out), 'openssl cms -decrypt then -verify of the tether signed envelope')
  await openssl(signArgs)
  await openssl(encryptSignedArgs)
  const verified = verifySignedData(openEnvelope(fs.readFileSync(theirsSigned), agent.certificate, agent.key).content)
  same(verified.content, 'tether open and verify of the openssl signed envelope')
  if (!verified.signer.raw.equals(signer.certificate.raw)) throw new Error(`${size.label}: the openssl signed envelope names another signer`)

  await openssl(['version'])

  // Timed, interleaved. Both decryptions open the same bytes: the tether envelope written above.
  const s = {build: [], open: [], encrypt: [], decrypt: [], floor: [], signBuild: [], signEncrypt: []}
  for (let i = 0; i < size.runs; i++) {
    s.build.push(timed(() => buildEnvelope(payload, agent.certificate)).ms)
    s.signBuild.push(timed(signAndBuild).ms)
    s.signEncrypt.push((await openssl(signArgs)) + (await openssl(encryptSignedArgs)))
    s.floor.push(await openssl(['version']))
    s.encrypt.push(await openssl(encryptArgs))
    const open = timed(() => openEnvelope(envelope, agent.certificate, agent.key))
    s.open.push(open.ms)
    same(open.value.content, 'tether open')
    fs.rmSync(out)
    s.decrypt.push(await openssl(decryptArgs))
    same(fs.readFileSync(out), 'openssl cms -decrypt')
    await tick()
  }

  const floor = median(s.floor)
  const fixed = size.bytes < KiB
  const mibs = (ms) => (fixed ? '-' : round(size.bytes / MiB / (ms / 1000), 1))
  const row = (op, ours, theirs, processes = 1) => {
    const t = median(ours)
    const o = median(theirs)
    const net = o - processes * floor
    return {
      payload: 'random',
      size: size.label,
      op,
      runs: size.runs,
      tether_ms: round(t, 2),
      tether_MiB_s: mibs(t),
      openssl_ms: round(o, 2),
      openssl_MiB_s: mibs(o),
      openssl_floor_ms: round(processes * floor, 2),
      openssl_net_ms: round(net, 2),
      openssl_net_MiB_s: net > 0 ? mibs(net) : '-',
      x_openssl: fixed ? '-' : round(o / t, 2),
      x_openssl_net: fixed || net <= 0 ? '-' : round(net / t, 2),
    }
  }

  return [row('build | cms -encrypt', s.build, s.encrypt), row('sign+build | cms -sign, cms -encrypt', s.signBuild, s.signEncrypt, 2), row('open | cms -decrypt', s.open, s.decrypt)]
}

/** gzip+build and open+gunzip of a generated configuration document, and gzip, gunzip alone; tether only. */
async function gzipRows(size, agent) {
  const json = Buffer.from(configJson(size.bytes), 'utf8')
  const gz = zlib.gzipSync(json, {level: 6})
  const envelope = buildEnvelope(gz, agent.certificate)
  if (!zlib.gunzipSync(openEnvelope(envelope, agent.certificate, agent.key).content).equals(json)) throw new Error(`json ${size.label}: open+gunzip does not give back the document`)
  const s = {build: [], gzip: [], open: [], gunzip: []}
  for (let i = 0; i < size.runs; i++) {
    s.build.push(timed(() => buildEnvelope(zlib.gzipSync(json, {level: 6}), agent.certificate)).ms)
    s.gzip.push(timed(() => zlib.gzipSync(json, {level: 6})).ms)
    const open = timed(() => zlib.gunzipSync(openEnvelope(envelope, agent.certificate, agent.key).content))
    s.open.push(open.ms)
    if (open.value.length !== json.length) throw new Error(`json ${size.label}: open+gunzip gave ${open.value.length} bytes, expected ${json.length}`)
    s.gunzip.push(timed(() => zlib.gunzipSync(gz)).ms)
    await tick()
  }

  const ops = {build: 'gzip+build', gzip: 'gzip alone', open: 'open+gunzip', gunzip: 'gunzip alone'}
  return Object.entries(ops).map(([key, op]) => {
    const t = median(s[key])
    return {
      payload: 'json+gzip',
      size: `${size.label} (gz ${Math.round(gz.length / KiB)} KiB)`,
      op,
      runs: size.runs,
      tether_ms: round(t, 2),
      tether_MiB_s: round(json.length / MiB / (t / 1000), 1),
      openssl_ms: '-',
      openssl_MiB_s: '-',
      openssl_floor_ms: '-',
      openssl_net_ms: '-',
      openssl_net_MiB_s: '-',
      x_openssl: '-',
      x_openssl_net: '-',
    }
  })
}

/**
 * A security configuration as the manager would send it: policy settings and long rule lists
 * (firewall, intrusion prevention, integrity monitoring, log inspection) with ids, names, ports,
 * addresses and descriptions, from a seeded generator so every run enciphers the same document.
 */
function configJson(targetBytes) {
  let seed = 0x5eed
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x80000000
  }

  const pick = (list) => list[Math.floor(rand() * list.length)]
  const words = ['inbound', 'outbound', 'allow', 'deny', 'web', 'server', 'database', 'ssh', 'remote', 'access', 'windows', 'linux', 'apache', 'nginx', 'registry', 'service', 'kernel', 'module', 'buffer', 'overflow', 'injection', 'traversal', 'authentication', 'failure', 'policy', 'change', 'detected', 'monitor', 'file', 'directory']
  const sentence = (n) => Array.from({length: n}, () => pick(words)).join(' ')
  const ip = () => `${10 + Math.floor(rand() * 200)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.0/${pick([16, 24, 28])}`
  const config = {
    version: 1,
    generatedAt: '2026-01-01T00:00:00.000Z',
    policy: {id: 42, name: 'Base Policy / Linux Servers', antiMalware: {realTime: true, scanArchives: true, exclusions: ['/var/log', '/proc', '/sys']}, heartbeatSeconds: 600},
    firewallRules: [],
    ipsRules: [],
    integrityRules: [],
    logInspectionRules: [],
  }
  const lists = ['firewallRules', 'ipsRules', 'integrityRules', 'logInspectionRules']
  let id = 1000
  let approx = JSON.stringify(config).length
  while (approx < targetBytes) {
    const list = pick(lists)
    const rule = {
      id: id++,
      identifier: `${list.slice(0, 2).toUpperCase()}-${Math.floor(rand() * 1e7)}`,
      name: sentence(4),
      description: sentence(12 + Math.floor(rand() * 12)),
      enabled: rand() < 0.9,
      action: pick(['allow', 'deny', 'log-only', 'bypass']),
      direction: pick(['incoming', 'outgoing']),
      protocol: pick(['tcp', 'udp', 'icmp', 'any']),
      ports: Array.from({length: 1 + Math.floor(rand() * 3)}, () => Math.floor(rand() * 65536)),
      sources: Array.from({length: 1 + Math.floor(rand() * 2)}, ip),
      severity: pick(['low', 'medium', 'high', 'critical']),
      lastUpdated: new Date(Date.UTC(2025, 0, 1) + Math.floor(rand() * 3e10)).toISOString(),
    }
    config[list].push(rule)
    approx += JSON.stringify(rule).length + 1
  }

  return JSON.stringify(config)
}
