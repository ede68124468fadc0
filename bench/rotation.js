// The CA rotation part of bench/renewal.js: how long the activate phase takes to move COUNT agents
// onto the new CA, with the manager contacting each. A manager of its own (so the CRL holds only
// this fleet's revocations); its agents are activated (the reference and the activations measured
// on the way, for the ratios), then `prepare` runs untimed and no agent is contacted before
// activate, so each contact also delivers the trust bundle first (SetTrustBundle): the worst case.
//
// Timed, as one span: activateRotation (the new CA issues, the manager's certificate re-issued
// from it), contactNow for every computer at `concurrency` (contact.ts renews a certificate not
// from the issuing CA, then confirms it over a new connection), and rotationStatus, until its
// computers.onNewCa equals COUNT. An agent installs the renewed certificate only if it trusts its
// CA, so every move also proves the trust bundle arrived.
import path from 'node:path'
import {performance} from 'node:perf_hooks'

import {activateRotation, prepareRotation, rotationStatus} from '../dist/manager/ca-rotation.js'
import {initManagerHome} from '../dist/manager/home.js'
import {currentCrl} from '../dist/manager/revocation.js'
import {cpuMsSince, measureCalls, round, startAgentsHost} from './lib.js'

/**
 * `steps`: {reference(credentials), activation(context), renew(context, computer), measure(context,
 * targets, concurrency, fn)} of bench/renewal.js. Returns the reference, activation and move
 * measurements ({count, wallMs, cpuMs, latencies, crls}) and how many CAs sign each CRL.
 */
export async function measureRotation({root, work, count, concurrency, pool, keysPerAgent, track, steps}) {
  const home = await initManagerHome(path.join(work, 'manager'), {hostnames: ['localhost', '127.0.0.1']})
  const context = track.opened(await home.open())
  const {store} = context
  const host = track.started(await startAgentsHost(root, path.join(work, 'agents'), count, {file: pool.file, offset: pool.take(keysPerAgent * count), perAgent: keysPerAgent}))
  const reference = await steps.measure(context, host.agents, concurrency, steps.reference(context.credentials))
  const activate = steps.activation(context)
  const activationRun = await steps.measure(context, host.agents, concurrency, activate)
  await prepareRotation(home, context)
  const computers = (await store.computers.list()).filter((c) => c.state === 'activated')
  if (computers.length !== count) throw new Error(`${computers.length} computers activated, expected ${count}`)

  const crlNumber = async () => (await store.crls.latest())?.number ?? 0
  await currentCrl(context)
  const crlsBefore = await crlNumber()
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  await activateRotation(home, context)
  const activated = performance.now()
  // Manager CPU per contact in the first and the last quarter: does a move cost more as the CRL grows?
  const quarter = Math.max(1, Math.floor(count / 4))
  const marks = {start: process.cpuUsage()}
  let done = 0
  const contacts = await measureCalls(computers, concurrency, async (computer) => {
    await steps.renew(context, computer)
    done += 1
    if (done === quarter) marks.first = process.cpuUsage()
    if (done === count - quarter) marks.last = process.cpuUsage()
  })
  const contacted = performance.now()
  const sinceLast = marks.last && cpuMsSince(marks.last)
  const quarters = count < 8 ? 'too few agents to compare quarters' : `manager CPU per move: first quarter ${round((cpuMsSince(marks.start) - cpuMsSince(marks.first)) / quarter, 1)} ms, last quarter ${round(sinceLast / quarter, 1)} ms`
  const status = await rotationStatus(context)
  const end = performance.now()
  const cpuMs = cpuMsSince(cpuStart)
  if (status.phase !== 'active' || status.computers.onNewCa !== count || status.computers.activated !== count) {
    throw new Error(`after the contacts the rotation is ${status.phase} with ${status.computers.onNewCa} of ${status.computers.activated} computers on the new CA, expected all ${count}`)
  }

  const crls = (await crlNumber()) - crlsBefore
  const crlSigners = context.credentials.crlSigners.length
  console.log(`renewal: CA rotation, ${count} agents at concurrency ${concurrency}: activateRotation ${round(activated - start, 0)} ms, contacts ${round((contacted - activated) / 1000, 2)} s, rotationStatus ${round(end - contacted, 0)} ms, all ${count} on the new CA after ${round((end - start) / 1000, 2)} s; ${crls} CRLs issued, each signed by ${crlSigners} CAs; manager CPU ${round(cpuMs / 1000, 2)} s (${quarters})`)
  await track.stopped(host)
  return {reference, activation: activationRun, move: {count, wallMs: end - start, cpuMs, latencies: contacts.latencies, crls}, crlSigners}
}
