import {children, decodeOid, readNode, type Node} from '../pki/der.js'

/**
 * The two certificate fields inspection shows that Node's X509Certificate does not give in the
 * form needed: a DER Name (as a CertificateRequest carries it) as one line, and the signature
 * algorithm. Read with the project's DER reader; both throw on malformed input.
 */

const NAME_ATTRIBUTES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.25': 'DC',
}

const BMP_STRING = 0x1e
const UTF8_STRING = 0x0c

function directoryString(node: Node): string {
  if (node.tag === BMP_STRING) return Buffer.from(node.value).swap16().toString('utf16le')
  return node.value.toString(node.tag === UTF8_STRING ? 'utf8' : 'latin1')
}

/** `CN=x, O=y` in the certificate's order: the form `oneLineName(cert.subject)` gives. */
export function derNameToString(der: Buffer): string {
  const parts: string[] = []
  for (const rdn of children(readNode(der))) {
    for (const attribute of children(rdn)) {
      const [type, value] = children(attribute)
      const oid = decodeOid(type)
      parts.push(`${NAME_ATTRIBUTES[oid] ?? oid}=${directoryString(value)}`)
    }
  }

  return parts.join(', ')
}

const SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
}

/** The certificate's signature algorithm (Node 20's X509Certificate does not expose it); `unknown` when unreadable. */
export function signatureAlgorithm(der: Buffer): string {
  try {
    const [, algorithm] = children(readNode(der))
    const oid = decodeOid(children(algorithm)[0])
    return SIGNATURE_ALGORITHMS[oid] ?? oid
  } catch {
    return 'unknown'
  }
}
