import crypto from 'node:crypto'
import {promisify} from 'node:util'

import {TetherError} from '../errors.js'

/** Key generation and loading with Node's native crypto (forge's pure-JS RSA is ~50x slower). */

const generateKeyPairAsync = promisify(crypto.generateKeyPair)

export const CA_KEY_BITS = 3072
export const LEAF_KEY_BITS = 2048

export interface KeyPairPem {
  privateKeyPem: string
  publicKeyPem: string
}

export async function generateRsaKeyPair(bits: number = LEAF_KEY_BITS): Promise<KeyPairPem> {
  const {privateKey, publicKey} = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
    privateKeyEncoding: {type: 'pkcs8', format: 'pem'},
    publicKeyEncoding: {type: 'spki', format: 'pem'},
  })
  return {privateKeyPem: privateKey, publicKeyPem: publicKey}
}

/** Parse a private key, turning OpenSSL's decoder errors into a sentence naming the file. */
export function loadPrivateKey(pem: string | Buffer, what: string): crypto.KeyObject {
  try {
    return crypto.createPrivateKey(pem)
  } catch (error) {
    throw new TetherError('internal', 'corrupt-private-key', `${what} is not a valid private key (truncated or corrupted)`, {
      hint: 'restore it from a backup, or re-create the state that owns it',
      cause: error,
    })
  }
}

export function publicKeyPemOf(key: crypto.KeyObject): string {
  return crypto.createPublicKey(key).export({type: 'spki', format: 'pem'}).toString()
}

/** True when the private key is the one whose public half is in the certificate. */
export function keyMatchesCertificate(key: crypto.KeyObject, certificate: crypto.X509Certificate): boolean {
  return certificate.checkPrivateKey(key)
}
