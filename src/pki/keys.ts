import type crypto from 'node:crypto'

import {TetherError} from '../errors.js'

/** Key generation and loading with Node's native crypto (forge's pure-JS RSA is ~50x slower). */

// Not `import crypto`: an ESM import of node:crypto also evaluates its lazy parts (webcrypto), and
// node:util's its parsers, about 4 ms of a cold start (dsm_c); the module itself is loaded once.
const native = () => process.getBuiltinModule('node:crypto')

export const CA_KEY_BITS = 3072
export const LEAF_KEY_BITS = 2048

export interface KeyPairPem {
  privateKeyPem: string
  publicKeyPem: string
}

export async function generateRsaKeyPair(bits: number = LEAF_KEY_BITS): Promise<KeyPairPem> {
  return new Promise((resolve, reject) => {
    native().generateKeyPair('rsa', {
      modulusLength: bits,
      publicExponent: 0x10001,
      privateKeyEncoding: {type: 'pkcs8', format: 'pem'},
      publicKeyEncoding: {type: 'spki', format: 'pem'},
    }, (error, publicKey, privateKey) => (error ? reject(error) : resolve({privateKeyPem: privateKey, publicKeyPem: publicKey})))
  })
}

/** Parse a private key, turning OpenSSL's decoder errors into a sentence naming the file. */
export function loadPrivateKey(pem: string | Buffer, what: string): crypto.KeyObject {
  try {
    return native().createPrivateKey(pem)
  } catch (error) {
    throw new TetherError('internal', 'corrupt-private-key', `${what} is not a valid private key (truncated or corrupted)`, {
      hint: 'restore it from a backup, or re-create the state that owns it',
      cause: error,
    })
  }
}

export function publicKeyPemOf(key: crypto.KeyObject): string {
  return native().createPublicKey(key).export({type: 'spki', format: 'pem'}).toString()
}

/** True when the private key is the one whose public half is in the certificate. */
export function keyMatchesCertificate(key: crypto.KeyObject, certificate: crypto.X509Certificate): boolean {
  return certificate.checkPrivateKey(key)
}
