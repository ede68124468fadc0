// Child process for the heartbeat benchmarks: simulated activated agents, each presenting its own
// CA-issued certificate, sending heartbeats to one server, with bounded concurrency. Run in its own
// process so the server's CPU time and memory are the server's alone.
//
//   node bench/heartbeat-client.js CONFIG.json
//
// CONFIG: {target (a label), agentServes, host, port, ca, tls: {minVersion, ciphers, ecdhCurve},
// agents: [{cert, key, hostname, sha256}], status: {crlNumber, managerSha256, caSha256}, count,
// concurrency, resume, maxSeconds?}. With maxSeconds, no timed heartbeat starts after that many
// seconds (the rest are reported as `skipped`): a bound for a server too slow to finish `count`. Per heartbeat: a TLS connection with the agent's certificate (the server is
// verified against the CA, not by name), then
//  - agentServes (tether, node-tls): the agent is TLS client but HTTP *server*: the server sends
//    POST /GetAgentStatus (and, today, more) over the connection, the agent answers with gzip JSON,
//    and the server closes;
//  - otherwise (nginx): the reference is an ordinary HTTPS server, so the agent is HTTP client
//    there: one POST /GetAgentStatus (the same gzip body the manager sends) with
//    `Connection: close`, a 200 reply, and nginx closes.
// A heartbeat counts once the exchange happened and the server closed; latency is from the start
// of the TCP connect to the close. With `resume`, each agent offers the last session ticket it got.
//
// Protocol on stdout/stdin (one JSON line each): after a warm-up of one heartbeat per agent (which
// also gives every agent its first ticket) it prints {"phase":"warm"} and waits for a line on
// stdin, so the parent can sample the server before the timer starts; then it prints
// {"phase":"done", ...results}. It exits when stdin closes.
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import readline from 'node:readline'
import tls from 'node:tls'
import {performance} from 'node:perf_hooks'

import zlib from 'node:zlib'

import {cpuMsSince, mapConcurrent, median, percentile} from './lib.js'

const HEARTBEAT_TIMEOUT_MS = 30_000
const CONTENT_TYPE = 'application/json'
const CONTENT_ENCODING = 'gzip'

// Nothing from dist/ here: a rebuild of dist/ (rm -rf dist, as `npm test` does) while a long run
// is under way must not break the simulated agents. The parent passes the TLS policy and each
// agent's certificate fingerprint; bodies are gzip JSON as in src/protocol/codec.ts.
const encodeBody = (value) => zlib.gzipSync(Buffer.from(JSON.stringify(value ?? {}), 'utf8'))

function decodeBody(stream, encoding) {
  return new Promise((resolve, reject) => {
    const chunks = []
    stream.on('data', (chunk) => chunks.push(chunk))
    stream.once('error', reject)
    stream.once('end', () => {
      try {
        if (encoding !== CONTENT_ENCODING) throw new Error(`body not gzip (${encoding ?? 'no content-encoding'})`)
        resolve(JSON.parse(zlib.gunzipSync(Buffer.concat(chunks)).toString('utf8')))
      } catch (error) {
        reject(error)
      }
    })
  })
}

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const ca = fs.readFileSync(config.ca, 'utf8')
// One secure context per agent, built once: a real agent's certificate and key do not change
// between heartbeats, and re-parsing them per connection would only load the client.
const agents = config.agents.map((agent) => {
  const {minVersion, ciphers, ecdhCurve} = config.tls
  return {
    hostname: agent.hostname,
    sha256: agent.sha256,
    context: tls.createSecureContext({cert: fs.readFileSync(agent.cert, 'utf8'), key: fs.readFileSync(agent.key, 'utf8'), ca, minVersion, ciphers, ecdhCurve}),
    instance: crypto.randomUUID(),
    session: undefined,
  }
})

const lines = readline.createInterface({input: process.stdin})
const stdinLines = lines[Symbol.asyncIterator]()
lines.once('close', () => process.exit())

/**
 * The agent's side of the reversed connection: an HTTP server fed the TLS socket it opened,
 * answering what a heartbeat asks of a freshly activated agent (no policy applied, no events
 * waiting). Any other command is answered 404 and fails the heartbeat, so a change in the
 * manager's heartbeat exchange shows up as failures here rather than as a silently shorter run.
 */
const replies = {
  // eventsWaiting: false, as the real agent says with none waiting (so a current manager does not ask for them).
  GetAgentStatus: (agent) => ({state: 'activated', hostname: agent.hostname, certificateSha256: agent.sha256, eventsWaiting: false, ...config.status, clock: new Date().toISOString()}),
  GetAgentEvents: (agent) => ({instance: agent.instance, events: [], more: false}),
  AckAgentEvents: () => ({deleted: 0}),
}

const states = new WeakMap()
const agentServer = http.createServer((req, res) => {
  const state = states.get(req.socket)
  const command = req.url.slice(1)
  decodeBody(req, req.headers['content-encoding']).then(
    () => {
      const reply = Object.hasOwn(replies, command) ? replies[command](state.agent) : undefined
      if (!reply) {
        state.unexpected ??= new Error(`the manager sent ${command}, which this simulated agent does not answer`)
        res.writeHead(404, {'content-type': CONTENT_TYPE, 'content-encoding': CONTENT_ENCODING}).end(encodeBody({error: {code: 'unknown-command', class: 'notFound', message: `unknown command ${command}`}}))
        return
      }

      const body = encodeBody(reply)
      res.writeHead(200, {'content-type': CONTENT_TYPE, 'content-encoding': CONTENT_ENCODING, 'content-length': body.length})
      res.end(body, () => {
        state.commands++
        if (command === 'GetAgentStatus') state.served = true
      })
    },
    (error) => {
      state.failure ??= error
      res.writeHead(400).end()
    },
  )
})

const requestBody = encodeBody({})

/** The reference exchange: the agent as HTTP client, one request, the server closes. */
function askReference(socket, state) {
  const request = http.request(
    {
      createConnection: () => socket,
      method: 'POST',
      path: '/GetAgentStatus',
      headers: {host: 'reference', 'content-type': CONTENT_TYPE, 'content-encoding': CONTENT_ENCODING, 'content-length': requestBody.length, connection: 'close'},
    },
    (response) => {
      response.resume()
      response.once('end', () => {
        state.commands++
        if (response.statusCode === 200) state.served = true
        else state.failure ??= new Error(`the reference answered ${response.statusCode}`)
      })
    },
  )
  request.on('error', (error) => {
    state.failure ??= error
  })
  request.end(requestBody)
}

const meta = {protocol: undefined, cipher: undefined}

function heartbeat(agent) {
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const state = {agent, served: false, failure: undefined, unexpected: undefined, reused: false, commands: 0}
    const socket = tls.connect({
      host: config.host,
      port: config.port,
      secureContext: agent.context,
      checkServerIdentity: () => undefined,
      session: config.resume ? agent.session : undefined,
      noDelay: true,
    })
    socket.setNoDelay(true)
    states.set(socket, state)
    socket.setTimeout(HEARTBEAT_TIMEOUT_MS, () => socket.destroy(new Error(`no heartbeat within ${HEARTBEAT_TIMEOUT_MS} ms`)))
    socket.on('session', (session) => {
      agent.session = session
    })
    socket.once('secureConnect', () => {
      state.reused = socket.isSessionReused()
      meta.protocol ??= socket.getProtocol()
      meta.cipher ??= socket.getCipher()?.name
      if (config.agentServes) agentServer.emit('connection', socket)
      else askReference(socket, state)
    })
    socket.on('error', (error) => {
      state.failure ??= error
    })
    socket.once('close', () => {
      const ms = performance.now() - start
      // The server ends the exchange by closing, often without close_notify: a reset then is normal.
      if (state.served && !state.unexpected) resolve({ms, reused: state.reused, commands: state.commands})
      else reject(state.unexpected ?? state.failure ?? new Error('the server closed the connection before the heartbeat exchange'))
    })
  })
}

/** `count` heartbeats, agent i % agents.length each, `concurrency` in flight; failures are counted, not fatal. */
async function send(count, maxSeconds) {
  const latencies = []
  const errors = new Map()
  let reused = 0
  let failed = 0
  let commands = 0
  let skipped = 0
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  const deadline = maxSeconds ? start + maxSeconds * 1000 : Infinity
  await mapConcurrent(Array.from({length: count}, (_, i) => agents[i % agents.length]), config.concurrency, async (agent) => {
    if (performance.now() > deadline) {
      skipped++
      return
    }

    try {
      const result = await heartbeat(agent)
      latencies.push(result.ms)
      if (result.reused) reused++
      commands += result.commands
    } catch (error) {
      failed++
      const message = error?.code ? `${error.code}: ${error.message}` : String(error?.message ?? error)
      errors.set(message, (errors.get(message) ?? 0) + 1)
    }
  })
  const wallMs = performance.now() - start
  return {ok: latencies.length, failed, skipped, reused, commands, wallMs, cpuMs: cpuMsSince(cpuStart), latencies, errors: Object.fromEntries([...errors].slice(0, 5))}
}

try {
  const warm = await send(agents.length)
  if (warm.ok === 0) throw new Error(`every warm-up heartbeat failed: ${JSON.stringify(warm.errors)}`)
  process.stdout.write(`${JSON.stringify({phase: 'warm', ok: warm.ok, failed: warm.failed, errors: warm.errors})}\n`)
  await stdinLines.next()
  const timed = await send(config.count, config.maxSeconds)
  const {latencies, ...rest} = timed
  process.stdout.write(`${JSON.stringify({
    phase: 'done',
    ...rest,
    medianMs: latencies.length > 0 ? median(latencies) : null,
    p99Ms: latencies.length > 0 ? percentile(latencies, 99) : null,
    protocol: meta.protocol,
    cipher: meta.cipher,
  })}\n`)
} catch (error) {
  process.stdout.write(`${JSON.stringify({phase: 'error', message: String(error?.stack ?? error)})}\n`)
  process.exitCode = 1
}

lines.close()
