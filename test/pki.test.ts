import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import type forgeType from 'node-forge'

import {describe, expect, it} from 'vitest'

import {TetherError} from '../src/errors.js'
import {commonName as commonNameOf, fingerprint, issuedBy, parseCertificate, parseCertificateFile, summarize} from '../src/pki/certificate.js'
import {children, encodeOid, readNode, sequence} from '../src/pki/der.js'
import {MANAGER_ROLE_OID} from '../src/pki/roles.js'
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
      // A new object each time, as a resumed session's peer certificate is (parseCertificate keeps its objects).
      const leaf = new crypto.X509Certificate(leafPem)
      expect(issuedBy(leaf, caCert)).toBe(true)
      expect(issuedBy(leaf, twinCert)).toBe(false)
      expect(issuedBy(caCert, caCert)).toBe(true)
      expect(issuedBy(twinCert, caCert)).toBe(false)
    }
  })

  it('parses the same PEM text once: the same object again, a Buffer or another text parsed, a bad one refused each time', async () => {
    const [ca, other] = [await makeCa(), await makeCa()]
    const first = parseCertificate(ca.certPem, 'ca')
    expect(parseCertificate(`${ca.certPem}`, 'ca')).toBe(first)
    expect(parseCertificate(other.certPem, 'other')).not.toBe(first)
    expect(fingerprint(parseCertificate(other.certPem, 'other'))).not.toBe(fingerprint(first))
    const fromBuffer = parseCertificate(Buffer.from(ca.certPem), 'ca')
    expect(fromBuffer).not.toBe(first)
    expect(fromBuffer.raw.equals(first.raw)).toBe(true)
    const truncated = ca.certPem.slice(0, 200)
    for (let i = 0; i < 2; i++) expect(() => parseCertificate(truncated, 'truncated.crt')).toThrowError('truncated.crt is not a valid X.509 certificate')
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

describe('certificates written natively', () => {
  // The oracle: the same fields put through forge's encoder, as issueCertificate did before issue 15.
  async function forgeTbs(pem: string, spec: {profile: 'ca' | 'manager' | 'agent'; subject: Array<{shortName: string; value: string}>; issuerPem?: string; altNames?: string[]}): Promise<Buffer> {
    const forge = (await import('node-forge')).default
    const {pki} = forge
    // Read natively: forge cannot parse the manager role's OID (a 2.25 UUID arc).
    const ours = new crypto.X509Certificate(pem)
    const cert = pki.createCertificate()
    cert.publicKey = pki.publicKeyFromPem(ours.publicKey.export({type: 'spki', format: 'pem'}) as string)
    cert.serialNumber = ours.serialNumber.toLowerCase()
    cert.validity.notBefore = new Date(ours.validFrom)
    cert.validity.notAfter = new Date(ours.validTo)
    cert.setSubject(spec.subject)
    const issuer = spec.issuerPem ? pki.certificateFromPem(spec.issuerPem) : undefined
    cert.setIssuer(issuer ? issuer.subject.attributes : spec.subject)
    const keyId = (issuer ?? cert).generateSubjectKeyIdentifier().getBytes()
    const extensions: Array<Record<string, unknown>> = [{name: 'subjectKeyIdentifier'}, {name: 'authorityKeyIdentifier', keyIdentifier: keyId}]
    if (spec.profile === 'ca') {
      extensions.push({name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true}, {name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true})
    } else {
      const eku = spec.profile === 'manager' ? ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.4', MANAGER_ROLE_OID] : ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']
      extensions.push({name: 'basicConstraints', cA: false, critical: true}, {name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true},
        {id: '2.5.29.37', value: sequence(...eku.map(encodeOid)).toString('binary')})
      if (spec.altNames) extensions.push({name: 'subjectAltName', altNames: spec.altNames.map((n) => (net.isIP(n) ? {type: 7, ip: n} : {type: 2, value: n}))})
    }

    cert.setExtensions(extensions)
    cert.signatureOid = pki.oids.sha256WithRSAEncryption
    cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption
    const tbs = (pki as unknown as {getTBSCertificate(c: unknown): forgeType.asn1.Asn1}).getTBSCertificate(cert)
    return Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary')
  }

  const tbsOf = (pem: string) => children(readNode(new crypto.X509Certificate(pem).raw))[0].raw

  it('are byte for byte what forge wrote, for each profile, and verify', async () => {
    const ca = await makeCa()
    const caCert = parseCertificate(ca.certPem, 'ca')
    expect(tbsOf(ca.certPem).equals(await forgeTbs(ca.certPem, {profile: 'ca', subject: [{shortName: 'CN', value: 'Test CA'}]}))).toBe(true)
    expect(issuedBy(caCert, caCert)).toBe(true)
    const keys = await generateRsaKeyPair(2048)
    const manager = (altNames: string[]) => issueCertificate({profile: 'manager', subject: {commonName: 'dsm.test', organizationalUnit: 'manager', organization: 'tether'}, publicKeyPem: keys.publicKeyPem,
      issuerCertPem: ca.certPem, signerKeyPem: ca.keys.privateKeyPem, validityDays: 10, altNames})
    const altNames = ['dsm.test', '127.0.0.1', '::1', 'fe80::1:2']
    const managerPem = await manager(altNames)
    expect(tbsOf(managerPem).equals(await forgeTbs(managerPem, {profile: 'manager', subject: [{shortName: 'CN', value: 'dsm.test'}, {shortName: 'OU', value: 'manager'}, {shortName: 'O', value: 'tether'}], issuerPem: ca.certPem, altNames}))).toBe(true)
    // An IPv6 address ending in IPv4 form (forge's encoder had no such case): as openssl reads it.
    const sans = (await openssl(['x509', '-noout', '-ext', 'subjectAltName'], await manager([...altNames, '2001:db8::ffff:192.0.2.1']))).stdout
    expect(sans).toContain('DNS:dsm.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FE80:0:0:0:0:0:1:2, IP Address:2001:DB8:0:0:0:FFFF:C000:201')
    const agentPem = await issueCertificate({profile: 'agent', subject: {commonName: crypto.randomUUID(), organizationalUnit: 'agent', organization: 'tether'}, publicKeyPem: keys.publicKeyPem,
      issuerCertPem: ca.certPem, signerKey: crypto.createPrivateKey(ca.keys.privateKeyPem), validityDays: 0, notBefore: new Date(Date.now() - 60_000), notAfter: new Date('2051-03-04T05:06:07Z')})
    const agent = parseCertificate(agentPem, 'agent')
    expect(tbsOf(agentPem).equals(await forgeTbs(agentPem, {profile: 'agent', subject: [{shortName: 'CN', value: commonNameOf(agent)}, {shortName: 'OU', value: 'agent'}, {shortName: 'O', value: 'tether'}], issuerPem: ca.certPem}))).toBe(true)
    expect(issuedBy(agent, caCert)).toBe(true)
    expect(new Date(agent.validTo).toISOString()).toBe('2051-03-04T05:06:07.000Z')
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'ca.crt'), ca.certPem)
    fs.writeFileSync(path.join(dir, 'agent.crt'), agentPem)
    expect((await openssl(['verify', '-CAfile', path.join(dir, 'ca.crt'), '-purpose', 'sslclient', path.join(dir, 'agent.crt')])).stdout).toContain('agent.crt: OK')
  })

  it('reads a CSR natively: its name, key and signature; refuses another PEM, trailing bytes and a non-RSA key', async () => {
    const keys = await generateRsaKeyPair(2048)
    const csrPem = await createCsr({commonName: 'agent-2', organizationalUnit: 'agent'}, keys.publicKeyPem, keys.privateKeyPem)
    const read = await readCsr(csrPem)
    expect(read).toMatchObject({commonName: 'agent-2', keyBits: 2048})
    expect(crypto.createPublicKey(read.publicKeyPem).equals(crypto.createPublicKey(keys.publicKeyPem))).toBe(true)
    await expect(readCsr(csrPem.replace(/REQUEST/g, 'REQUESTS'))).rejects.toMatchObject({code: 'invalid-csr'})
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
    await expect(readCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.concat([der, Buffer.from([0])]).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`)).rejects.toMatchObject({code: 'invalid-csr'})
    const dir = tempDir()
    const ec = await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=ec', '-keyout', path.join(dir, 'ec.key')])
    expect(ec.exitCode).toBe(0)
    await expect(readCsr(ec.stdout)).rejects.toMatchObject({code: 'invalid-csr'})
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
