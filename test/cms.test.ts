import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {buildEnvelope, openEnvelope} from '../src/pki/cms.js'
import {generateRsaKeyPair} from '../src/pki/keys.js'
import {issueCertificate} from '../src/pki/x509.js'
import {openssl, tempDir} from './helpers.js'

interface Identity {
  certFile: string
  keyFile: string
  certificate: crypto.X509Certificate
  key: crypto.KeyObject
}

async function identity(dir: string, name: string, ca: {certPem: string; keyPem: string}): Promise<Identity> {
  const keys = await generateRsaKeyPair()
  const certPem = await issueCertificate({profile: 'agent', subject: {commonName: name}, publicKeyPem: keys.publicKeyPem, issuerCertPem: ca.certPem, signerKeyPem: ca.keyPem, validityDays: 30})
  const certFile = path.join(dir, `${name}.crt`)
  const keyFile = path.join(dir, `${name}.key`)
  fs.writeFileSync(certFile, certPem)
  fs.writeFileSync(keyFile, keys.privateKeyPem, {mode: 0o600})
  return {certFile, keyFile, certificate: new crypto.X509Certificate(certPem), key: crypto.createPrivateKey(keys.privateKeyPem)}
}

describe('CMS EnvelopedData for configurations', () => {
  let dir: string
  let agent: Identity
  let other: Identity
  const content = crypto.randomBytes(200_000)
  beforeAll(async () => {
    dir = tempDir()
    const caKeys = await generateRsaKeyPair()
    const caPem = await issueCertificate({profile: 'ca', subject: {commonName: 'CMS test CA'}, publicKeyPem: caKeys.publicKeyPem, signerKeyPem: caKeys.privateKeyPem, validityDays: 30})
    const ca = {certPem: caPem, keyPem: caKeys.privateKeyPem}
    agent = await identity(dir, 'agent', ca)
    other = await identity(dir, 'other', ca)
    fs.writeFileSync(path.join(dir, 'plain.bin'), content)
  })

  it('what we build, openssl cms -decrypt opens with the agent key, and shows AES-256 with RSA-OAEP', async () => {
    const envelope = path.join(dir, 'ours.der')
    fs.writeFileSync(envelope, buildEnvelope(content, agent.certificate))
    const decrypted = path.join(dir, 'ours.out')
    const result = await openssl(['cms', '-decrypt', '-inform', 'DER', '-in', envelope, '-recip', agent.certFile, '-inkey', agent.keyFile, '-out', decrypted])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(fs.readFileSync(decrypted).equals(content)).toBe(true)
    const printed = (await openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', envelope])).stdout
    expect(printed).toContain('rsaesOaep')
    expect(printed).toContain('aes-256-cbc')
    expect(printed).toContain('sha256')
  })

  const variants: Array<[string, string[], string]> = [
    ['OAEP with SHA-1 defaults', [], 'rsaes-oaep-sha1'],
    ['OAEP with SHA-256', ['-keyopt', 'rsa_oaep_md:sha256'], 'rsaes-oaep-sha256'],
    ['streamed BER', ['-stream'], 'rsaes-oaep-sha1'],
    ['recipient by key identifier', ['-keyid'], 'rsaes-oaep-sha1'],
  ]
  for (const [label, extra, transport] of variants) {
    it(`opens an envelope made by openssl cms -encrypt -aes256: ${label}`, async () => {
      const out = path.join(dir, `theirs-${transport}-${extra.join('')}.der`)
      const made = await openssl(['cms', '-encrypt', '-aes256', '-binary', '-outform', 'DER', '-in', path.join(dir, 'plain.bin'), '-out', out, '-recip', agent.certFile, '-keyopt', 'rsa_padding_mode:oaep', ...extra])
      expect(made.exitCode, made.stderr).toBe(0)
      const opened = openEnvelope(fs.readFileSync(out), agent.certificate, agent.key)
      expect(opened.content.equals(content)).toBe(true)
      expect(opened).toMatchObject({contentEncryption: 'aes-256-cbc', keyTransport: transport})
    })
  }

  it('refuses, with a named reason: another recipient, PKCS#1 v1.5, tampering, garbage, truncation', async () => {
    const forOther = buildEnvelope(content, other.certificate)
    expect(() => openEnvelope(forOther, agent.certificate, agent.key)).toThrowError(/encrypted to another recipient/)

    const pkcs1 = path.join(dir, 'pkcs1.der')
    await openssl(['cms', '-encrypt', '-aes256', '-binary', '-outform', 'DER', '-in', path.join(dir, 'plain.bin'), '-out', pkcs1, '-recip', agent.certFile])
    expect(() => openEnvelope(fs.readFileSync(pkcs1), agent.certificate, agent.key)).toThrowError(/requires RSA-OAEP/)

    const good = buildEnvelope(content, agent.certificate)
    const tamperedKey = Buffer.from(good)
    tamperedKey[good.indexOf(Buffer.from([0x04, 0x82, 0x01, 0x00])) + 10] ^= 0xff
    expect(() => openEnvelope(tamperedKey, agent.certificate, agent.key)).toThrowError(/content key does not decrypt/)
    const tamperedContent = Buffer.from(good)
    tamperedContent[good.length - 5] ^= 0x01
    expect(() => openEnvelope(tamperedContent, agent.certificate, agent.key)).toThrowError(/does not decrypt \(tampered or truncated\)/)
    expect(() => openEnvelope(crypto.randomBytes(2000), agent.certificate, agent.key)).toThrowError(/not a CMS EnvelopedData structure/)
    expect(() => openEnvelope(good.subarray(0, good.length - 100), agent.certificate, agent.key)).toThrowError(/not a CMS EnvelopedData structure/)
  })
})
