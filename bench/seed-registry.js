// Benchmark fixture: synthetic computers (and their certificates rows) written straight into the
// SQLite registry of an initialized, closed manager home with better-sqlite3, in one transaction.
// SQL outside the store modules is allowed here only because this is a fixture for measuring the
// registry at scale (issue 15): going through the store interface costs three atomic operations
// per computer (reserve, certificates.record, recordActivation), which bench/registry.js measures
// on a sample and reports beside this.
//
// Each synthetic computer copies a template taken from a computer activated for real (its host
// information, its certificate PEM as the stored certificate text, subject layout), with its own
// GUID, hostname, address (10.0.0.0/8, never contacted: bidirectional mode, nothing queued),
// serial and SHA-256, and a last-seen time within the last hour. The certificate's validity is the
// template's, so the listing judges each computer's certificate life as it would a real one's.
import crypto from 'node:crypto'

import Database from 'better-sqlite3'

/** The template: one real activated computer and its certificate row. */
export function templateOf(file) {
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    const computer = db.prepare("SELECT * FROM computers WHERE state = 'activated' AND cert_sha256 IS NOT NULL ORDER BY id LIMIT 1").get()
    if (!computer) throw new Error(`${file} holds no activated computer to copy`)
    const certificate = db.prepare('SELECT * FROM certificates WHERE sha256 = ?').get(computer.cert_sha256)
    if (!certificate) throw new Error(`${file}: no certificates row for computer ${computer.id}`)
    return {computer, certificate}
  } finally {
    db.close()
  }
}

const colonHex = (bytes) => bytes.toString('hex').toUpperCase().match(/../g).join(':')

/** Insert `count` synthetic computers modelled on `template`, numbered from `first`; returns the ms it took. */
export function seedComputers(file, count, template, {first = 0} = {}) {
  const start = performance.now()
  const db = new Database(file, {fileMustExist: true})
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    const addComputer = db.prepare(`INSERT INTO computers (guid, hostname, display_name, description, group_name, policy, address, mode, state, host_info, cert_serial, cert_sha256, cert_not_before, cert_not_after, created_at, activated_at, last_seen_at)
      VALUES (?, ?, NULL, NULL, NULL, NULL, ?, 'bidirectional', 'activated', ?, ?, ?, ?, ?, ?, ?, ?)`)
    const addCertificate = db.prepare(`INSERT INTO certificates (serial, computer_id, sha256, subject, not_before, not_after, issued_at, pem)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
    const {computer: c, certificate: t} = template
    const hostInfo = JSON.parse(c.host_info ?? '{}')
    const now = Date.now()
    db.transaction(() => {
      for (let i = first; i < first + count; i++) {
        const guid = crypto.randomUUID().toUpperCase()
        const hostname = `synthetic-${String(i).padStart(6, '0')}`
        const serial = crypto.randomBytes(16).toString('hex').toUpperCase()
        const sha256 = colonHex(crypto.randomBytes(32))
        const seen = new Date(now - Math.floor(Math.random() * 3_600_000)).toISOString()
        const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:4118`
        const info = JSON.stringify({...hostInfo, hostname})
        const {lastInsertRowid} = addComputer.run(guid, hostname, address, info, serial, sha256, c.cert_not_before, c.cert_not_after, c.created_at, c.activated_at, seen)
        addCertificate.run(serial, lastInsertRowid, sha256, t.subject.replace(/CN=[^,/]+/, `CN=${guid}`), t.not_before, t.not_after, t.issued_at, t.pem)
      }
    })()
    db.pragma('wal_checkpoint(TRUNCATE)')
  } finally {
    db.close()
  }

  return performance.now() - start
}
