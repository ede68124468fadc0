// Per-call CPU costs behind the hot spots of bench/PROFILE.md, each beside its cheaper alternative,
// measured with process.cpuUsage() (CPU time, so a loaded machine inflates them less than the
// wall-clock samples of a profile). Not part of `npm run bench`; run after `npm run build`:
//
//   node bench/micro.js
//
// Uses a throwaway manager home (CA and manager keys) and one agent certificate in a temporary
// directory, removed at the end; TLS on 127.0.0.1, an ephemeral port.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {Readable} from 'node:stream'
import tls from 'node:tls'
import zlib from 'node:zlib'

import Database from 'better-sqlite3'

import {initManagerHome} from '../dist/manager/home.js'
import {generateRsaKeyPair} from '../dist/pki/keys.js'
import {issueCertificate} from '../dist/pki/x509.js'
import {peerCertificate} from '../dist/channel/tls.js'
import {colonHex, fingerprint, issuedBy} from '../dist/pki/certificate.js'
import {decodeBody, encodeBody} from '../dist/protocol/codec.js'
import {median, printTable, round} from './lib.js'

const cpuMs = () => {
  const {user, system} = process.cpuUsage()
  return (user + system) / 1000
}

/** CPU ms per call of `fn` (awaited), after a warm-up. */
async function perCall(n, fn) {
  for (let i = 0; i < Math.ceil(n / 10); i++) await fn()
  const start = cpuMs()
  for (let i = 0; i < n; i++) await fn()
  return (cpuMs() - start) / n
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-micro-'))
const rows = []
const add = (what, ms, instead, insteadMs, where) => rows.push({what, ms_per_call: round(ms, 4), instead, instead_ms: round(insteadMs, 4), saves_ms: round(ms - insteadMs, 4), where})
try {
  const home = await initManagerHome(path.join(work, 'manager'), {hostnames: ['localhost']})
  const read = (name) => fs.readFileSync(home.file(name), 'utf8')
  const [caPem, caKeyPem, managerPem, managerKeyPem] = [read('caCert'), read('caKey'), read('managerCert'), read('managerKey')]
  const agentKeys = await generateRsaKeyPair(2048)
  const agentPem = await issueCertificate({profile: 'agent', subject: {commonName: 'micro-agent'}, publicKeyPem: agentKeys.publicKeyPem, issuerCertPem: caPem, signerKeyPem: caKeyPem, validityDays: 1})

  // Bodies: a status reply as an agent sends it, decoded as src/protocol/codec.ts does vs in one call.
  const reply = encodeBody({state: 'activated', hostname: 'micro-agent', certificateSha256: 'AB:'.repeat(31) + 'AB', clock: new Date().toISOString(), crlNumber: 1})
  add('decodeBody (src/protocol/codec.ts; a stream pipeline before issue 15) of a 133-byte reply', await perCall(3000, () => decodeBody(Readable.from([reply]), 'gzip')),
    'zlib.gunzipSync(body, {maxOutputLength}) + JSON.parse', await perCall(3000, () => JSON.parse(zlib.gunzipSync(reply, {maxOutputLength: 64 << 20}).toString('utf8'))), 'src/protocol/codec.ts decodeBody')
  const empty = encodeBody({})
  add('encodeBody({}) (gzipSync level 6 per request before issue 15; now compressed once)', await perCall(3000, () => encodeBody({})), 'a constant encoded once', await perCall(3000, () => empty), 'src/protocol/codec.ts encodeBody')

  // The CA signature of an agent certificate: key parsed from PEM per signature vs one KeyObject.
  const tbs = crypto.randomBytes(900)
  const caKey = crypto.createPrivateKey(caKeyPem)
  add('RSA-3072 sign, key parsed from PEM each time', await perCall(100, () => crypto.sign('sha256', tbs, crypto.createPrivateKey(caKeyPem))),
    'RSA-3072 sign with the loaded KeyObject (credentials.caKey)', await perCall(100, () => crypto.sign('sha256', tbs, caKey)), 'src/pki/x509.ts nativeSign')

  // tls.connect with cert/key/ca PEMs builds a SecureContext per connection.
  const context = tls.createSecureContext({cert: managerPem, key: managerKeyPem, ca: caPem})
  add('tls.createSecureContext({cert, key, ca}) (per tls.connect with PEMs)', await perCall(300, () => tls.createSecureContext({cert: managerPem, key: managerKeyPem, ca: caPem})),
    'a SecureContext built once, passed as secureContext', 0, 'src/channel/connect.ts connectTls')
  void context
  add('new X509Certificate(pem) (a certificate parsed again)', await perCall(1000, () => new crypto.X509Certificate(agentPem)), 'the object parsed once, kept', 0, 'src/pki/certificate.ts parseCertificate')

  // The peer certificate on the server side, after a full and after a resumed handshake.
  const peer = await peerCertificateCosts(caPem, managerPem, managerKeyPem, agentPem, agentKeys.privateKeyPem)
  add('socket.getPeerX509Certificate() after a full handshake', peer.x509Full, 'socket.getPeerCertificate() (fingerprint256, raw, ext_key_usage)', peer.legacyFull, 'src/channel/tls.ts peerCertificate')
  add('socket.getPeerX509Certificate() after a full handshake', peer.x509Full, 'peerCertificate(socket): cached by DER (same agent certificate again)', peer.cachedFull, 'src/channel/tls.ts peerCertificate')
  add('socket.getPeerX509Certificate() after a resumed handshake', peer.x509Resumed, 'peerCertificate(socket) after a resumed handshake', peer.cachedResumed, 'src/channel/tls.ts peerCertificate')
  const agentCert = new crypto.X509Certificate(agentPem)
  const caCert = new crypto.X509Certificate(caPem)
  add('issuedBy(peer, ca) before issue 15: checkIssued + RSA-3072 verify', await perCall(2000, () => agentCert.checkIssued(caCert) && agentCert.verify(caCert.publicKey)), 'issuedBy asked again (the verdict kept by both SHA-256s)', await perCall(2000, () => issuedBy(agentCert, caCert)), 'src/pki/certificate.ts issuedBy')
  add('fingerprint before issue 15: colon hex of createHash(sha256) over the DER', await perCall(2000, () => colonHex(crypto.createHash('sha256').update(agentCert.raw).digest())), 'fingerprint(): X509Certificate.fingerprint256 (native, kept by the object)', await perCall(2000, () => fingerprint(agentCert)), 'src/pki/certificate.ts fingerprint')

  // The two writes of a heartbeat (the computer's last contact, with json_set of its host_info, and
  // the handshake journal), as CPU: separately, and in one transaction.
  const db = new Database(path.join(work, 'writes.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE computers (id INTEGER PRIMARY KEY, host_info TEXT, last_seen_at TEXT); CREATE TABLE handshakes (id INTEGER PRIMARY KEY, at TEXT, peer_address TEXT, peer_sha256 TEXT, peer_subject TEXT, result TEXT, reason TEXT)')
  const hostInfo = JSON.stringify({hostname: 'micro-agent', platform: 'linux', interfaces: 'x'.repeat(800), clock: new Date().toISOString()})
  for (let id = 1; id <= 100; id++) db.prepare('INSERT INTO computers VALUES (?, ?, NULL)').run(id, hostInfo)
  const contact = db.prepare("UPDATE computers SET host_info = json_set(coalesce(host_info, '{}'), '$.clock', ?), last_seen_at = ? WHERE id = ?")
  const entry = db.prepare('INSERT INTO handshakes (at, peer_address, peer_sha256, peer_subject, result, reason) VALUES (?, ?, ?, ?, ?, ?)')
  let n = 0
  const writes = () => {
    const at = new Date().toISOString()
    contact.run(at, at, (n++ % 100) + 1)
    entry.run(at, '127.0.0.1:50000', 'AB:'.repeat(31) + 'AB', 'CN=micro-agent, OU=agent, O=tether', 'accepted', 'heartbeat')
  }
  const together = db.transaction(writes)
  add('a heartbeat\'s two writes (last contact UPDATE, journal INSERT), each its own transaction', await perCall(5000, writes), 'both in one transaction', await perCall(5000, together), 'src/manager/store/sqlite.ts recordContact, journal')
  db.close()

  printTable('micro: CPU per call (one timed loop each, after a warm-up)', rows)
} finally {
  fs.rmSync(work, {recursive: true, force: true})
}

/** Median wall ms of each call inside 'secureConnection' (synchronous calls: wall = CPU here). */
async function peerCertificateCosts(caPem, managerPem, managerKeyPem, agentPem, agentKeyPem) {
  const server = tls.createServer({cert: managerPem + caPem, key: managerKeyPem, ca: caPem, requestCert: true, rejectUnauthorized: false})
  const t = {x509Full: [], x509Resumed: [], legacyFull: [], cachedFull: [], cachedResumed: []}
  let order = 0
  let resumedOrder = 0
  server.on('secureConnection', (socket) => {
    const reused = socket.isSessionReused()
    // Rotate which is called first on full handshakes: each is timed as the first call on its socket.
    const which = reused ? (resumedOrder++ % 2 === 0 ? 0 : 2) : order++ % 3
    const t0 = performance.now()
    if (which === 1) socket.getPeerCertificate()
    else if (which === 2) peerCertificate(socket)
    else socket.getPeerX509Certificate()
    const ms = performance.now() - t0
    if (reused) (which === 2 ? t.cachedResumed : t.x509Resumed).push(ms)
    else [t.x509Full, t.legacyFull, t.cachedFull][which].push(ms)
    socket.end('x')
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address()
  const secureContext = tls.createSecureContext({cert: agentPem, key: agentKeyPem, ca: caPem})
  let session
  const once = (resume) => new Promise((resolve, reject) => {
    const socket = tls.connect({port, host: '127.0.0.1', secureContext, checkServerIdentity: () => undefined, session: resume ? session : undefined})
    socket.on('session', (s) => {
      session = s
    })
    socket.once('error', reject)
    socket.once('close', resolve)
    socket.resume()
  })
  for (let i = 0; i < 600; i++) await once(i % 2 === 1)
  await new Promise((resolve) => server.close(resolve))
  return {x509Full: median(t.x509Full), x509Resumed: median(t.x509Resumed), legacyFull: median(t.legacyFull), cachedFull: median(t.cachedFull), cachedResumed: median(t.cachedResumed)}
}
