// Agent certificate renewal (issue 12 section 7), beside activations in the same run: throughput,
// latency and manager CPU per renewal, and the time a CA rotation's activate phase takes to move a
// fleet onto the new CA. The agents live in a separate process (bench/agents-host.js), so
// `process.cpuUsage()` here is the manager's alone; every agent key pair (the activation's and the
// renewal's, both made at GenerateAgentCSR) comes from the pool of bench/key-pool.js, so key
// generation is not what is measured.
//
// Per concurrency level (TETHER_BENCH_CONCURRENCY, default "1,16"), on fresh agents
// (TETHER_BENCH_AGENTS, default 200, quick 24) of one manager, in this order:
//  - handshake+GetHostInfo (ref): as bench/activation.js, against the agents still in bootstrap;
//  - activation: manager-initiated (src/manager/manager-initiated.ts);
//  - contact: contactNow with nothing due, over mutual TLS: the steady-state contact a renewal
//    rides on (status, events, queue);
//  - renewal: the computers marked (store.computers.requestRenewal, untimed), then contactNow for
//    each: the contact, GenerateAgentCSR (renew), the CA's signature, SetAgentCredentials (renew),
//    and the confirmation over a new mutual-TLS connection that supersedes (revokes) the old
//    certificate. Checked afterwards: each computer holds the renewed certificate, nothing pending.
// x_act_* compare with the activation row of the same level, x_ref_* with the reference.
//
// The CA rotation (bench/rotation.js): TETHER_BENCH_ROTATION_AGENTS (default 1000, quick 50)
// agents of another manager, activated, then `prepare`; timed from activateRotation until
// rotationStatus says every computer is on the new CA, with the manager contacting each
// (contactNow, TETHER_BENCH_ROTATION_CONCURRENCY in flight, default 16).
//
// sig_floor_ms: the RSA operations each row needs at `openssl speed`'s rate (bench/signature-floor.js),
// including the CRL signatures the run actually made (crls_per_op): superseding a certificate is a
// revocation, so the next contact's CRL is issued again (during a rotation, signed by both CAs).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {contactNow} from '../dist/manager/contact.js'
import {initManagerHome} from '../dist/manager/home.js'
import {currentCrl} from '../dist/manager/revocation.js'
import {activation, handshakeReference} from './activation.js'
import {keyPool} from './key-pool.js'
import {measureCalls, median, percentile, positiveInt, round, startAgentsHost} from './lib.js'
import {measureRotation} from './rotation.js'
import {ACTIVATION_OPERATIONS, CRL_OPERATIONS, HANDSHAKE_OPERATIONS, MUTUAL_CONTACT_OPERATIONS, RENEWAL_OPERATIONS, floorCost, measureSignatures} from './signature-floor.js'

export const name = 'renewal'

const WARMUP_AGENTS = 4 // taken through every step untimed first: lazy imports, JIT, statement caches
const KEYS_PER_AGENT = 2 // activation, one renewal

export async function run({
  root,
  quick = false,
  agents = positiveInt(process.env.TETHER_BENCH_AGENTS, quick ? 24 : 200),
  concurrencies = (process.env.TETHER_BENCH_CONCURRENCY ?? '1,16').split(',').map((c) => positiveInt(c, 1)),
  rotationAgents = positiveInt(process.env.TETHER_BENCH_ROTATION_AGENTS, quick ? 50 : 1000),
  rotationConcurrency = positiveInt(process.env.TETHER_BENCH_ROTATION_CONCURRENCY, 16),
}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-renewal-'))
  const hosts = new Set()
  const contexts = new Set()
  // Interrupted (Ctrl-C, kill): finally blocks do not run, so clean up here and exit.
  const interrupted = (signal) => {
    for (const host of hosts) host.kill()
    fs.rmSync(work, {recursive: true, force: true})
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  const track = {
    started: (host) => (hosts.add(host), host),
    stopped: async (host) => (await host.stop(), hosts.delete(host)),
    opened: (context) => (contexts.add(context), context),
  }
  try {
    // Before anything else runs: openssl speed wants the machine to itself.
    const floor = measureSignatures(quick ? 1 : 2)
    if (floor.error) console.log(`renewal: signature floor not measured: ${floor.error}`)
    else console.log(`renewal: signature floor per renewal (${floor.version}): 2 RSA-2048 signatures (two handshakes) + 1 RSA-3072 (the certificate), 3 RSA-2048 and 2 RSA-3072 verifications (the CSR, both handshakes) = ${round(floorCost(floor, RENEWAL_OPERATIONS).allMs, 3)} ms, plus ${round(floor[3072].signMs, 3)} ms per CRL signed`)

    const perLevel = agents + WARMUP_AGENTS
    const pool = await keyPool(root, KEYS_PER_AGENT * (concurrencies.length * perLevel + rotationAgents))
    const home = await initManagerHome(path.join(work, 'manager'), {hostnames: ['localhost', '127.0.0.1']})
    const context = track.opened(await home.open())
    const steps = renewalSteps(context)

    const rows = []
    for (const concurrency of concurrencies) {
      const host = track.started(await startAgentsHost(root, path.join(work, `c${concurrency}`), perLevel, {file: pool.file, offset: pool.take(KEYS_PER_AGENT * perLevel), perAgent: KEYS_PER_AGENT}))
      const warm = host.agents.slice(0, WARMUP_AGENTS)
      const timed = host.agents.slice(WARMUP_AGENTS)
      await steps.level(warm, 1)
      const m = await steps.level(timed, concurrency)
      const level = {concurrency, activation: m.activation, reference: m.reference}
      rows.push(
        row('handshake+GetHostInfo (ref)', level, m.reference, floorOf(floor, HANDSHAKE_OPERATIONS)),
        row('activation', level, m.activation, floorOf(floor, ACTIVATION_OPERATIONS, m.activation.crls)),
        row('contact (nothing due)', level, m.contact, floorOf(floor, MUTUAL_CONTACT_OPERATIONS, m.contact.crls)),
        row('renewal', level, m.renewal, floorOf(floor, RENEWAL_OPERATIONS, m.renewal.crls)),
      )
      await track.stopped(host)
    }

    const rotation = await measureRotation({root, work: path.join(work, 'rotation'), count: rotationAgents, concurrency: rotationConcurrency, pool, keysPerAgent: KEYS_PER_AGENT, track, steps: {reference: handshakeReference, activation, renew: renewOnce, measure: measured}})
    const level = {concurrency: rotationConcurrency, activation: rotation.activation, reference: rotation.reference}
    rows.push(
      row('rotation fleet: handshake+GetHostInfo (ref)', level, rotation.reference, floorOf(floor, HANDSHAKE_OPERATIONS)),
      row('rotation fleet: activation', level, rotation.activation, floorOf(floor, ACTIVATION_OPERATIONS, rotation.activation.crls)),
      // Per moved agent: a renewal, the CRLs signed by both trusted CAs, and its share of re-issuing the manager's certificate.
      row('CA rotation activate: all on new CA', level, rotation.move, floorOf(floor, RENEWAL_OPERATIONS, rotation.move.crls * rotation.crlSigners + 1)),
    )
    return rows
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    await Promise.allSettled([...hosts].map((host) => host.stop()))
    await Promise.allSettled([...contexts].map((context) => context.close()))
    fs.rmSync(work, {recursive: true, force: true})
  }
}

/** The steps of one level on `targets` (bootstrap agents), each timed at `concurrency`. */
function renewalSteps(context) {
  const {store} = context
  const reference = handshakeReference(context.credentials)
  const activate = activation(context)
  const read = (ids) => Promise.all(ids.map(async (id) => (await store.computers.get(id)) ?? fail(`computer ${id} is not in the registry`)))
  return {
    async level(targets, concurrency) {
      const reference_ = await measured(context, targets, concurrency, reference)
      const ids = []
      const activation_ = await measured(context, targets, concurrency, async (target, i) => (ids[i] = (await activate(target)).id))
      const contact = await measured(context, await read(ids), concurrency, async (computer) => {
        const outcome = await contactNow(context, computer)
        if (!outcome.contacted || outcome.report?.renewed) throw new Error(`the contact with computer ${computer.id} ${outcome.contacted ? 'renewed its certificate, with nothing due' : `failed: ${outcome.reason}`}`)
      })
      await store.computers.requestRenewal(ids)
      const marked = await read(ids)
      if (!marked.every((c) => c.renewRequested)) throw new Error('requestRenewal left computers unmarked')
      const renewed = []
      const renewal = await measured(context, marked, concurrency, async (computer, i) => (renewed[i] = await renewOnce(context, computer)))
      const after = await read(ids)
      after.forEach((c, i) => {
        if (c.certSha256 !== renewed[i].sha256 || c.renewalSha256 || c.renewRequested) throw new Error(`computer ${c.id} is not confirmed on its renewed certificate (holds ${c.certSha256}, sent ${renewed[i].sha256}, pending ${c.renewalSha256}, marked ${c.renewRequested})`)
      })
      return {reference: reference_, activation: activation_, contact, renewal}
    },
  }
}

/** One contact that must renew the computer's certificate (and confirm it over a new connection). */
async function renewOnce(context, computer) {
  const outcome = await contactNow(context, computer)
  if (!outcome.contacted || !outcome.report?.renewed) throw new Error(`the contact with computer ${computer.id} did not renew it: ${outcome.reason ?? 'contacted, nothing renewed'}`)
  return outcome.report.renewed
}

/** measureCalls, plus how many CRLs the manager issued meanwhile (one the step before made due is issued first, untimed). */
async function measured(context, targets, concurrency, fn) {
  const crlNumber = async () => (await context.store.crls.latest())?.number ?? 0
  await currentCrl(context)
  const before = await crlNumber()
  const m = await measureCalls(targets, concurrency, fn)
  return {...m, crls: (await crlNumber()) - before}
}

function fail(message) {
  throw new Error(message)
}

/** The floor of `operations` per call, plus `rsa3072Signatures` (CRLs, mostly) spread over the calls (their count is the row's). */
function floorOf(floor, operations, rsa3072Signatures = 0) {
  if (floor.error) return undefined
  return (count) => floorCost(floor, operations).allMs + (rsa3072Signatures / count) * floorCost(floor, CRL_OPERATIONS).allMs
}

function row(operation, level, m, floorFor) {
  const cpuPerOp = m.cpuMs / m.count
  const perSecond = m.count / (m.wallMs / 1000)
  const {activation: act, reference: ref} = level
  const floorMs = floorFor?.(m.count)
  return {
    operation,
    agents: m.count,
    concurrency: level.concurrency,
    total_s: round(m.wallMs / 1000, 2),
    per_s: round(perSecond, 1),
    median_ms: round(median(m.latencies), 1),
    p95_ms: round(percentile(m.latencies, 95), 1),
    mgr_cpu_ms_per_op: round(cpuPerOp, 2),
    x_act_per_s: round(perSecond / (act.count / (act.wallMs / 1000)), 2),
    x_act_cpu: round(cpuPerOp / (act.cpuMs / act.count), 2),
    x_ref_median: round(median(m.latencies) / median(ref.latencies), 2),
    x_ref_cpu: round(cpuPerOp / (ref.cpuMs / ref.count), 2),
    crls_per_op: round((m.crls ?? 0) / m.count, 2),
    sig_floor_ms: floorMs === undefined ? 'n/a' : round(floorMs, 2),
    x_sig_floor: floorMs === undefined ? 'n/a' : round(cpuPerOp / floorMs, 2),
  }
}
