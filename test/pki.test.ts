import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {TetherError} from '../src/errors.js'
import {fingerprint, issuedBy, parseCertificate, parseCertificateFile, summarize} from '../src/pki/certificate.js'
import {generateRsaKeyPair} from '../src/pki/keys.js'
import {createCsr, issueCertificate, readCsr} from '../src/pki/x509.js'
import {openssl, tempDir} from './helpers.js'

async function makeCa() {
  const keys = await generateRsaKeyPair(2048)
  const certPem = await issueCertificate({profile: 'ca', subject: {commonName: 'Test CA'}, publicKeyPem: keys.publicKeyPem, signerKeyPem: keys.privateKeyPem, validityDays: 30})
  return {keys, certPem}
}

describe('hybrid signer (forge structures, native signatures)', () => {
  it('issues a CA and a leaf that openssl verify accepts, with the requested profile', async () => {
    const ca = await makeCa()
    const leafKeys = await generateRsaKeyPair(2048)
    const leafPem = await issueCertificate({
      profile: 'manager', subject: {commonName: 'dsm.test', organizationalUnit: 'manager'}, publicKeyPem: leafKeys.publicKeyPem,
      issuerCertPem: ca.certPem, signerKeyPem: ca.keys.privateKeyPem, validityDays: 10, altNames: ['dsm.test', '127.0.0.1'],
    })
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'ca.crt'), ca.certPem)
    fs.writeFileSync(path.join(dir, 'leaf.crt'), leafPem)
    const verify = await openssl(['verify', '-CAfile', path.join(dir, 'ca.crt'), '-purpose', 'sslserver', path.join(dir, 'leaf.crt')])
    expect(verify.stdout).toContain('leaf.crt: OK')
    const verifyClient = await openssl(['verify', '-CAfile', path.join(dir, 'ca.crt'), '-purpose', 'sslclient', path.join(dir, 'leaf.crt')])
    expect(verifyClient.exitCode).toBe(0)

    const text = (await openssl(['x509', '-in', path.join(dir, 'leaf.crt'), '-noout', '-text'])).stdout
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption')
    expect(text).toContain('DNS:dsm.test, IP Address:127.0.0.1')
    expect(text).toContain('CA:FALSE')

    const caText = (await openssl(['x509', '-in', path.join(dir, 'ca.crt'), '-noout', '-text'])).stdout
    expect(caText).toMatch(/CA:TRUE, pathlen:0/)
    expect(caText).toContain('Certificate Sign, CRL Sign')

    const leaf = parseCertificate(leafPem, 'leaf')
    expect(issuedBy(leaf, parseCertificate(ca.certPem, 'ca'))).toBe(true)
    expect(summarize(leaf).subjectAltNames).toEqual(['DNS:dsm.test', 'IP Address:127.0.0.1'])
  })

  it('reports fingerprints exactly as openssl does', async () => {
    const ca = await makeCa()
    const ours = fingerprint(parseCertificate(ca.certPem, 'ca'), 'sha256')
    const theirs = (await openssl(['x509', '-noout', '-fingerprint', '-sha256'], ca.certPem)).stdout.trim().split('=')[1]
    expect(ours).toBe(theirs)
    const sha1 = (await openssl(['x509', '-noout', '-fingerprint', '-sha1'], ca.certPem)).stdout.trim().split('=')[1]
    expect(fingerprint(parseCertificate(ca.certPem, 'ca'), 'sha1')).toBe(sha1)
  })

  it('asked again (its verdicts are kept), issuedBy still tells a CA from another of the same name', async () => {
    const [ca, twin] = [await makeCa(), await makeCa()]
    const leafKeys = await generateRsaKeyPair(2048)
    const leafPem = await issueCertificate({profile: 'agent', subject: {commonName: 'agent.test'}, publicKeyPem: leafKeys.publicKeyPem, issuerCertPem: ca.certPem, signerKeyPem: ca.keys.privateKeyPem, validityDays: 1})
    const [caCert, twinCert] = [parseCertificate(ca.certPem, 'ca'), parseCertificate(twin.certPem, 'twin')]
    expect(twinCert.subject).toBe(caCert.subject)
    for (let i = 0; i < 3; i++) {
      // A new object each time, as a resumed session's peer certificate is.
      const leaf = parseCertificate(leafPem, 'leaf')
      expect(issuedBy(leaf, caCert)).toBe(true)
      expect(issuedBy(leaf, twinCert)).toBe(false)
      expect(issuedBy(caCert, caCert)).toBe(true)
      expect(issuedBy(twinCert, caCert)).toBe(false)
    }
  })

  it('makes CSRs openssl accepts and reads them back with proof of possession', async () => {
    const keys = await generateRsaKeyPair(2048)
    const csrPem = await createCsr({commonName: 'agent-1'}, keys.publicKeyPem, keys.privateKeyPem)
    const check = await openssl(['req', '-verify', '-noout'], csrPem)
    expect(check.stderr + check.stdout).toMatch(/verify OK|Certificate request self-signature verify OK/)
    const read = await readCsr(csrPem)
    expect(read.commonName).toBe('agent-1')
    expect(read.keyBits).toBe(2048)
    expect(crypto.createPublicKey(read.publicKeyPem).export({format: 'der', type: 'spki'})).toEqual(crypto.createPublicKey(keys.publicKeyPem).export({format: 'der', type: 'spki'}))
  })

  it('refuses a CSR whose signature was not made by its key', async () => {
    const keys = await generateRsaKeyPair(2048)
    const other = await generateRsaKeyPair(2048)
    const forged = await createCsr({commonName: 'agent-1'}, keys.publicKeyPem, other.privateKeyPem)
    await expect(readCsr(forged)).rejects.toMatchObject({code: 'csr-bad-signature'})
  })

  it('accepts a CSR made by openssl and refuses a weak key', async () => {
    const dir = tempDir()
    const key = path.join(dir, 'k.pem')
    const made = await openssl(['req', '-new', '-newkey', 'rsa:1024', '-nodes', '-keyout', key, '-subj', '/CN=weak', '-sha256'])
    expect(made.exitCode).toBe(0)
    await expect(readCsr(made.stdout)).rejects.toMatchObject({code: 'csr-weak-key'})
    const strong = await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-subj', '/CN=strong', '-sha256'])
    expect((await readCsr(strong.stdout)).commonName).toBe('strong')
  })
})

describe('certificate files from operators', () => {
  it('names each malformed input', async () => {
    const ca = await makeCa()
    const cases: Array<[string, string]> = [
      ['hello world', 'not-a-certificate'],
      [ca.certPem.slice(0, 300), 'truncated-certificate'],
      [ca.keys.privateKeyPem, 'private-key-in-certificate-file'],
      [ca.certPem + ca.keys.privateKeyPem, 'private-key-in-certificate-file'],
      [ca.certPem + ca.certPem, 'multiple-certificates'],
    ]
    for (const [text, code] of cases) {
      let caught: unknown
      try {
        parseCertificateFile(text, 'input')
      } catch (error) {
        caught = error
      }

      expect(caught, code).toBeInstanceOf(TetherError)
      expect((caught as TetherError).code).toBe(code)
    }

    // Correct framing around a damaged body is caught by the X.509 parser.
    const damagedBody = ca.certPem.replace(/\n[A-Za-z0-9+/]{64}\n/, '\nAAAA\n')
    expect(() => parseCertificateFile(damagedBody, 'input')).toThrowError(/not a valid X.509 certificate/)
  })
})
