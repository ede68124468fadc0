import {TetherError} from '../errors.js'

/** PEM framing, checked strictly so a truncated or mixed-up file is named as such. */

export interface PemBlock {
  label: string
  body: Buffer
  text: string
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/

export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = []
  for (const match of text.matchAll(BLOCK)) {
    const [whole, label, body, endLabel] = match
    if (label !== endLabel || !BASE64_BODY.test(body)) continue
    blocks.push({label, body: Buffer.from(body.replace(/\s+/g, ''), 'base64'), text: whole})
  }

  return blocks
}

export function isPrivateKeyLabel(label: string): boolean {
  return label.endsWith('PRIVATE KEY')
}

export function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/**
 * Exactly one certificate and nothing secret: the shape of every certificate file tether reads
 * from an operator (a binding file, an exported manager certificate).
 */
export function expectSingleCertificatePem(text: string, what: string): string {
  const blocks = pemBlocks(text)
  if (blocks.some((b) => isPrivateKeyLabel(b.label))) {
    throw new TetherError('usage', 'private-key-in-certificate-file', `${what} contains a private key`, {
      hint: 'pass the certificate only (the file written by `dsm_c -action exportdsmcert`), and keep the key secret',
    })
  }

  const certificates = blocks.filter((b) => b.label === 'CERTIFICATE')
  if (certificates.length === 0) {
    const truncated = text.includes('-----BEGIN CERTIFICATE-----')
    throw new TetherError(
      'usage',
      truncated ? 'truncated-certificate' : 'not-a-certificate',
      truncated ? `${what} is a truncated PEM certificate (no END line)` : `${what} is not a PEM certificate`,
      {hint: 'export it again with `dsm_c -action exportdsmcert -output ds_agent_dsm.crt`'},
    )
  }

  if (certificates.length > 1) {
    throw new TetherError('usage', 'multiple-certificates', `${what} holds ${certificates.length} certificates; expected exactly one`, {
      hint: 'pass the manager certificate alone, not a chain',
    })
  }

  // Re-encode from DER: the canonical form, whatever headers or line ends the input carried.
  return toPem('CERTIFICATE', certificates[0].body)
}
