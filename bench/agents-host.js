// Child process for the activation and renewal benchmarks: hosts COUNT agents (AgentRuntime +
// AgentServer on 127.0.0.1, ephemeral ports) in this one process, so the manager's CPU time in the
// parent is the manager's alone. Each agent's key pairs are generated (or read from the pool of
// bench/key-pool.js) before it reports ready (real agents make theirs on their own machines, so key
// generation is no part of the manager's activation or renewal cost).
//
//   node bench/agents-host.js WORKDIR COUNT [POOL.json OFFSET [KEYS_PER_AGENT]]
//
// KEYS_PER_AGENT (default 1): the key pairs each agent gets, one per GenerateAgentCSR (activation,
// then each renewal); agent i takes keys OFFSET + i*KEYS_PER_AGENT onwards.
//
// Prints one JSON line {"ready": true, "agents": [{"host", "port", "dsaCore"}, ...], "keygen_ms"} when every
// agent listens; exits on SIGTERM, SIGINT or when stdin closes (so it never outlives the bench).
import fs from 'node:fs'
import path from 'node:path'
import {performance} from 'node:perf_hooks'

import {AgentRuntime, AgentServer} from '../dist/agent/server.js'
import {generateRsaKeyPair} from '../dist/pki/keys.js'

const [workdir, countText, poolFile, offsetText, perAgentText] = process.argv.slice(2)
const count = Number(countText)
const offset = Number(offsetText ?? 0)
const perAgent = Number(perAgentText ?? 1)
if (!workdir || !Number.isInteger(count) || count < 1 || !Number.isInteger(offset) || offset < 0 || !Number.isInteger(perAgent) || perAgent < 1) {
  console.error('usage: node bench/agents-host.js WORKDIR COUNT [POOL.json OFFSET [KEYS_PER_AGENT]]')
  process.exit(2)
}

const servers = []
let stopping = false
async function stop(code) {
  if (stopping) return
  stopping = true
  await Promise.allSettled(servers.map((server) => server.close()))
  process.exit(code)
}

process.on('SIGTERM', () => void stop(0))
process.on('SIGINT', () => void stop(0))
process.stdin.on('end', () => void stop(0))
process.stdin.on('error', () => void stop(0))
process.stdin.resume()

try {
  // KEYS_PER_AGENT keys per agent: each GenerateAgentCSR (activation, a renewal) takes one pair.
  const needed = count * perAgent
  const keygenStart = performance.now()
  const pooled = poolFile ? JSON.parse(fs.readFileSync(poolFile, 'utf8')).keys.slice(offset, offset + needed) : []
  if (poolFile && pooled.length < needed) throw new Error(`the key pool ${poolFile} has ${pooled.length} keys from offset ${offset}, ${needed} needed`)
  const keys = poolFile ? pooled : await Promise.all(Array.from({length: needed}, () => generateRsaKeyPair(2048)))
  const keygenMs = performance.now() - keygenStart

  const agents = []
  for (let i = 0; i < count; i++) {
    const dir = path.join(workdir, `agent${i}`)
    fs.mkdirSync(dir, {recursive: true})
    const pool = keys.slice(i * perAgent, (i + 1) * perAgent).reverse() // popped in pool order
    const runtime = await AgentRuntime.open({
      dsaCore: path.join(dir, 'dsa_core'),
      // Unique per host process: each concurrency level activates new computers, whatever the duplicate-name policy.
      hostname: `bench-${path.basename(workdir)}-${i}`,
      generateKeys: async () => {
        const pair = pool.pop()
        if (!pair) throw new Error(`bench agent ${i} has no pre-generated key left`)
        return pair
      },
    })
    const server = new AgentServer(runtime)
    servers.push(server)
    agents.push({...(await server.listen(0, '127.0.0.1')), dsaCore: runtime.store.dir})
  }

  process.stdout.write(`${JSON.stringify({ready: true, agents, keygen_ms: Math.round(keygenMs)})}\n`)
} catch (error) {
  console.error(`agents-host: ${error?.stack ?? error}`)
  await stop(1)
}
