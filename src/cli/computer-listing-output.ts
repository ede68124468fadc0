import type {CertificateLife} from '../manager/certificate-life.js'
import type {ListedComputer} from '../manager/computer-listing.js'
import {ChunkedOutput, ELEMENT_DEPTH, JsonArrayOutput} from './chunked-output.js'
import {JsonFields} from './pretty-json.js'
import {paint, printable} from './render.js'

/**
 * `computers list`, written as it is read: one line per computer, or with `json` the document
 * `{computers: [...]}` (each element `listingView` of the listed computer, byte for byte what
 * JSON.stringify(document, null, 2) prints), element by element from the listed parts.
 */
export async function printListing(pages: AsyncIterable<ListedComputer[]>, output: ChunkedOutput, options: {json: boolean}): Promise<void> {
  if (options.json) {
    const json = new JsonArrayOutput(output, 'computers')
    const fields = new JsonFields(ELEMENT_DEPTH)
    for await (const page of pages) {
      for (const l of page) {
        fields.spread([l.computer, l.presence, {certificate: l.certificate, configuration: l.configuration}])
        json.elementJson(fields.end())
      }
    }

    json.end()
    return
  }

  let count = 0
  for await (const page of pages) {
    for (const l of page) output.line(listingLine(l))
    count += page.length
  }

  if (count === 0) output.line('No computers')
  output.flush()
}

/** Hostnames and display names are the agents' own words: shown printable, exact in --json. */
function listingLine({computer: c, presence, certificate, configuration}: ListedComputer): string {
  const shown = (text: string | null) => (text === null ? text : printable(text))
  return `${String(c.id).padStart(4)}  ${printable(c.state).padEnd(12)} ${printable(presence.presence).padEnd(8)} ${(configuration.upToDate ? 'config ok' : 'config old').padEnd(11)}${printable(c.mode).padEnd(17)} ${certificateColumn(certificate)} ${printable(c.hostname)}${c.displayName ? ` (${printable(c.displayName)})` : ''}  ${shown(c.address) ?? ''}  last seen ${shown(c.lastSeenAt) ?? 'never'}`
}

/** `cert 245d` while all is well; otherwise the standing, coloured when it needs attention. */
function certificateColumn(life: CertificateLife | null): string {
  const text = (!life ? 'cert -' : life.standing === 'ok' ? `cert ${life.daysLeft}d` : `cert ${life.standing}`).padEnd(17)
  return life?.attention ? paint.stdout.yellow(text) : text
}
