import type crypto from 'node:crypto'
import fs from 'node:fs'

import {fingerprint, parseCertificate} from './certificate.js'

/**
 * The bootstrap certificate shipped in the package (assets/bootstrap): the same in every install,
 * its key public by design. An unactivated agent presents it and reports its hash.
 */

const assetUrl = (name: string) => new URL(`../../assets/bootstrap/${name}`, import.meta.url)

export interface BootstrapIdentity {
  certPem: string
  keyPem: string
  certificate: crypto.X509Certificate
  sha1: string
  sha256: string
}

let cached: BootstrapIdentity | undefined

export function bootstrapIdentity(): BootstrapIdentity {
  if (!cached) {
    const certPem = fs.readFileSync(assetUrl('bootstrap.crt'), 'utf8')
    const keyPem = fs.readFileSync(assetUrl('bootstrap.key'), 'utf8')
    const certificate = parseCertificate(certPem, 'the bootstrap certificate')
    cached = {certPem, keyPem, certificate, sha1: fingerprint(certificate, 'sha1'), sha256: fingerprint(certificate, 'sha256')}
  }

  return cached
}
