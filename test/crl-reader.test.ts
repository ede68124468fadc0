import crypto from 'node:crypto'

import {beforeAll, describe, expect, it} from 'vitest'

import {TetherError} from '../src/errors.js'
import {RevokedEntry, buildCrl, readCrl} from '../src/pki/crl.js'
import {generateRsaKeyPair} from '../src/pki/keys.js'
import {issueCertificate} from '../src/pki/x509.js'
import {openssl} from './helpers.js'

/** readCrl against `openssl crl -noout -text`, on CRLs written by buildCrl. */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** "Dec  1 19:31:04 2026 GMT", as openssl prints times. */
function opensslTime(text: string): Date {
  const match = /^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4}) GMT$/.exec(text.trim())
  if (!match) throw new Error(`not an openssl time: ${text}`)
  return new Date(Date.UTC(Number(match[6]), MONTHS.indexOf(match[1]), Number(match[2]), Number(match[3]), Number(match[4]), Number(match[5])))
}

/** What openssl reads in a CRL: the same fields readCrl returns. */
async function opensslView(pem: string) {
  const {stdout, exitCode, stderr} = await openssl(['crl', '-noout', '-text'], pem)
  expect(exitCode, stderr).toBe(0)
  const field = (name: string) => new RegExp(`${name}: (.+)`).exec(stdout)?.[1]
  const number = /X509v3 CRL Number: *\n *(\S+)/.exec(stdout)?.[1]
  return {
    thisUpdate: opensslTime(field('Last Update')!),
    nextUpdate: field('Next Update') === 'NONE' ? undefined : opensslTime(field('Next Update')!),
    // openssl writes small numbers in decimal, large ones in hex with a 0x prefix.
    number: number === undefined ? undefined : BigInt(number),
    revoked: [...stdout.matchAll(/Serial Number: (\S+)\n\s+Revocation Date: (.+)/g)].map((m) => ({serial: m[1], revokedAt: opensslTime(m[2])})),
    text: stdout,
  }
}

describe('readCrl', () => {
  let ca: crypto.X509Certificate
  let caKey: crypto.KeyObject
  beforeAll(async () => {
    const keys = await generateRsaKeyPair()
    ca = new crypto.X509Certificate(await issueCertificate({profile: 'ca', subject: {commonName: 'crl reader CA'}, publicKeyPem: keys.publicKeyPem, signerKeyPem: keys.privateKeyPem, validityDays: 30}))
    caKey = crypto.createPrivateKey(keys.privateKeyPem)
  })

  const crl = (revoked: RevokedEntry[], options: {number: number; thisUpdate: Date; nextUpdate: Date}) => buildCrl(ca, caKey, revoked, options)

  it('an empty CRL: thisUpdate, nextUpdate and number as openssl reads them', async () => {
    const pem = crl([], {number: 0, thisUpdate: new Date('2026-12-01T19:31:04Z'), nextUpdate: new Date('2026-12-08T19:31:04Z')})
    const view = await opensslView(pem)
    expect(view.text).toContain('No Revoked Certificates.')
    expect(readCrl(pem)).toEqual({thisUpdate: view.thisUpdate, nextUpdate: view.nextUpdate, number: view.number, revoked: []})
    expect(readCrl(pem)).toMatchObject({thisUpdate: new Date('2026-12-01T19:31:04Z'), number: 0n})
  })

  it('revoked entries (serials with a high bit, a leading zero), a CRL number past 2^32, times on both sides of 2050', async () => {
    const revoked: RevokedEntry[] = [
      {serial: '5D84BD9B14FD41719FF5B9862C3D7AAF', revokedAt: new Date('2026-11-30T10:00:00Z'), reason: 'cessationOfOperation'},
      {serial: '80AB', revokedAt: new Date('2049-12-31T23:59:59Z'), reason: 'superseded'},
      {serial: '0123AB', revokedAt: new Date('2050-01-01T00:00:00Z'), reason: 'keyCompromise'},
    ]
    const pem = crl(revoked, {number: 2 ** 40 + 5, thisUpdate: new Date('1999-06-01T00:00:00Z'), nextUpdate: new Date('2051-03-04T05:06:07Z')})
    const view = await opensslView(pem)
    const read = readCrl(pem)
    expect(read).toEqual({thisUpdate: view.thisUpdate, nextUpdate: view.nextUpdate, number: view.number, revoked: view.revoked})
    expect(read.number).toBe(BigInt(2 ** 40 + 5))
    expect(read.revoked.map((r) => r.serial)).toEqual(['5D84BD9B14FD41719FF5B9862C3D7AAF', '80AB', '0123AB'])
    expect(read.nextUpdate?.toISOString()).toBe('2051-03-04T05:06:07.000Z')
    // DER in, the same answer.
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
    expect(readCrl(der)).toEqual(read)
  })

  it('refuses what is not a CRL, naming it', () => {
    for (const input of ['hello', `-----BEGIN CERTIFICATE-----\n${ca.raw.toString('base64')}\n-----END CERTIFICATE-----\n`]) {
      expect(() => readCrl(input)).toThrow(TetherError)
      expect(() => readCrl(input)).toThrow('not a PEM certificate revocation list')
    }

    expect(() => readCrl(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow(/malformed ASN.1/)
  })
})
