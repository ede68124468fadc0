// The heartbeat floor for a Node implementation ("node-tls (reference)"): a bare Node TLS server in
// its own process, doing what one heartbeat costs the manager in TLS and HTTP and nothing else.
//
//   node bench/node-tls-server.js CONFIG.json
//
// CONFIG: {chain, key, ca, crl (PEM file paths), tls: {minVersion, ciphers, ecdhCurve, honorCipherOrder}}.
// Same as the manager's listener (src/manager/heartbeat.ts): the manager's certificate chain and key,
// the CA and CRL it verifies agents against, the TLS policy of src/channel/tls.ts, a client
// certificate requested and its verdict checked per connection (rejectUnauthorized: false, then
// `socket.authorized`), Node's default session cache and tickets. Then, as the manager, it is the
// HTTP client over the accepted socket: one POST /GetAgentStatus with a gzip JSON body (gzip level
// 6, the headers of src/channel/http-session.ts), the gzip JSON reply read (size-capped) and
// parsed, and the socket destroyed, as HttpSession.close() does. No store, no journal, no schema
// validation: what is left of a heartbeat once those are free.
//
// Prints one JSON line {"listening": true, "host", "port", "pid"}; exits on SIGTERM, SIGINT or when
// stdin closes. Nothing from dist/ (a rebuild during a long run must not break it).
import fs from 'node:fs'
import http from 'node:http'
import tls from 'node:tls'
import zlib from 'node:zlib'

const MAX_COMPRESSED = 16 * 1024 * 1024
const MAX_DECOMPRESSED = 64 * 1024 * 1024

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const read = (file) => fs.readFileSync(file, 'utf8')
const requestBody = zlib.gzipSync(Buffer.from(JSON.stringify({}), 'utf8'), {level: 6})
const headers = {'content-type': 'application/json', 'content-encoding': 'gzip', 'accept-encoding': 'gzip', 'content-length': requestBody.length}

let served = 0
let refused = 0
let failed = 0

function exchange(socket) {
  const request = http.request({createConnection: () => socket, method: 'POST', path: '/GetAgentStatus', host: 'agent', headers}, (response) => {
    const chunks = []
    let size = 0
    response.on('data', (chunk) => {
      size += chunk.length
      if (size > MAX_COMPRESSED) socket.destroy()
      else chunks.push(chunk)
    })
    response.once('end', () => {
      try {
        if (response.headers['content-encoding'] !== 'gzip') throw new Error('reply not gzip')
        const status = JSON.parse(zlib.gunzipSync(Buffer.concat(chunks), {maxOutputLength: MAX_DECOMPRESSED}).toString('utf8'))
        if (response.statusCode !== 200 || status.state !== 'activated') throw new Error(`reply ${response.statusCode} ${status.state}`)
        served++
      } catch {
        failed++
      }

      socket.destroy()
    })
  })
  request.on('error', () => {
    failed++
    socket.destroy()
  })
  request.end(requestBody)
}

const server = tls.createServer({
  ...config.tls,
  cert: read(config.chain),
  key: read(config.key),
  ca: read(config.ca),
  crl: read(config.crl),
  noDelay: true,
  requestCert: true,
  rejectUnauthorized: false,
})
server.on('secureConnection', (socket) => {
  if (!socket.authorized) {
    refused++
    socket.destroy()
    return
  }

  exchange(socket)
})
server.on('tlsClientError', () => {
  refused++
})

const stop = () => {
  process.stderr.write(`node-tls-server: served ${served}, refused ${refused}, failed ${failed}\n`)
  process.exit(0)
}

process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.on('error', stop)
process.stdin.resume()

server.listen(0, '127.0.0.1', () => {
  const {address, port} = server.address()
  process.stdout.write(`${JSON.stringify({listening: true, host: address, port, pid: process.pid})}\n`)
})
