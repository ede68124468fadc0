import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'

import {AgentDaemon} from '../agent/daemon.js'
import {heartbeatOnce} from '../agent/outbound.js'
import {DsaCore} from '../agent/store.js'
import {inspectEndpoint} from '../inspect/inspect.js'
import {TetherError, isTetherError} from '../errors.js'
import {Computer, findComputer, reload} from '../manager/computers.js'
import {contactNow} from '../manager/contact.js'
import {deactivate, settleContact} from '../manager/deactivation.js'
import {EXPORT_FILE_NAME, ManagerHome, exportManagerCertificate, initManagerHome} from '../manager/home.js'
import {activate} from '../manager/manager-initiated.js'
import {createToken} from '../manager/enrolment.js'
import {assignPolicy, savePolicy} from '../manager/policies.js'
import {setSetting} from '../manager/settings.js'
import {fingerprint} from '../pki/certificate.js'
import {ManagerRuntime} from '../manager/runtime.js'

/**
 * `tether demo`: the whole trust system end to end, embedded, in a temporary directory, on
 * loopback: a manager and its heartbeat listener, N agents, binding, both activation directions,
 * a rogue manager refused, an encrypted policy, a heartbeat, a handshake inspection,
 * deactivation and reset. Each step checks its own outcome; the demo fails at the first surprise.
 */

export interface DemoStep {
  title: string
  ok: boolean
  detail: string
  ms: number
}

export interface DemoObserver {
  start(index: number, title: string): void
  finish(index: number, step: DemoStep): void
}

const BIN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin')

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new TetherError('internal', 'demo-step-failed', message)
}

/** The real `dsa_control` executable against one agent's dsa_core, as a provisioning script runs it. */
async function dsaControl(dsaCore: string, args: string[], hostname: string): Promise<{exitCode: number; stdout: string; stderr: string}> {
  const result = await execa(process.execPath, [path.join(BIN_DIR, 'dsa_control'), ...args], {
    env: {TETHER_DSA_CORE: dsaCore, TETHER_AGENT_HOSTNAME: hostname, NO_COLOR: '1'},
    reject: false,
    input: '',
  })
  return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

export async function runDemo(options: {agents: number; keep: boolean; observer: DemoObserver}): Promise<{ok: boolean; dir: string; steps: DemoStep[]}> {
  if (options.agents < 3) {
    throw new TetherError('usage', 'demo-agents', '--agents must be at least 3 (one manager-initiated, one agent-initiated, one bound)')
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-demo-'))
  const steps: DemoStep[] = []
  const daemons: AgentDaemon[] = []
  const addresses: string[] = []
  const hostnames = Array.from({length: options.agents}, (_, i) => `demo-agent-${i + 1}.test`)
  const dsaCores = hostnames.map((_, i) => path.join(dir, `agent-${i + 1}`, 'dsa_core'))
  let runtime: ManagerRuntime | undefined
  const computers: Computer[] = []

  const step = async (title: string, run: () => Promise<string>): Promise<void> => {
    const index = steps.length
    options.observer.start(index, title)
    const started = Date.now()
    let result: DemoStep
    try {
      result = {title, ok: true, detail: await run(), ms: Date.now() - started}
    } catch (error) {
      const message = isTetherError(error) ? error.toLine() : (error as Error).message
      result = {title, ok: false, detail: message, ms: Date.now() - started}
    }

    steps.push(result)
    options.observer.finish(index, result)
    if (!result.ok) throw new TetherError('internal', 'demo-step-failed', `demo step ${index + 1} (${title}) did not behave as expected: ${result.detail}`)
  }

  const home = path.join(dir, 'manager')
  try {
    await step('Initialize the manager: its own CA, manager certificate and registry', async () => {
      const manager = await initManagerHome(home, {hostnames: ['localhost', '127.0.0.1']})
      const summary = await manager.summary()
      return `CA "${summary.ca.subject}", manager certificate SHA-256 ${summary.manager.sha256.slice(0, 23)}…`
    })

    await step('Start the manager heartbeat listener on loopback', async () => {
      runtime = await ManagerRuntime.open(new ManagerHome(home))
      const bound = await runtime.start(0, '127.0.0.1', {pollMs: 500})
      return `listening on ${bound.host}:${bound.port} (TLS server; it stays the HTTP client)`
    })

    await step(`Start ${options.agents} agents on loopback (bootstrap context)`, async () => {
      for (const [i, dsaCore] of dsaCores.entries()) {
        fs.mkdirSync(path.dirname(dsaCore), {recursive: true})
        const started = await AgentDaemon.start({dsaCore, hostname: hostnames[i], port: 0, host: '127.0.0.1'})
        daemons.push(started.daemon)
        addresses.push(`${started.host}:${started.port}`)
      }

      const states = daemons.map((d) => d.runtime.store.status())
      expect(states.every((s) => s.state === 'unactivated' && s.certificateHash.bootstrap), 'every new agent presents the bootstrap certificate')
      return `${addresses.join(', ')}; each presents the shipped bootstrap certificate ${states[0].certificateHash.sha256.slice(0, 23)}…`
    })

    const bound = options.agents - 1
    await step(`Bind agent ${bound + 1} to this manager (dsm_c -action exportdsmcert, then ${EXPORT_FILE_NAME} in dsa_core)`, async () => {
      const exported = await exportManagerCertificate(new ManagerHome(home), path.join(dir, EXPORT_FILE_NAME))
      const result = new DsaCore(dsaCores[bound]).bind(exported.file, fs.readFileSync(exported.file, 'utf8'))
      expect(new DsaCore(dsaCores[bound]).state() === 'pre-activated', 'the bound agent is pre-activated')
      return `agent ${bound + 1} is pre-activated: only the manager presenting ${result.bound.sha256.slice(0, 23)}… may activate it`
    })

    await step(`Refuse a rogue manager: a second, independently initialized manager tries agent ${bound + 1}`, async () => {
      const rogue = await (await initManagerHome(path.join(dir, 'rogue-manager'), {hostnames: ['localhost']})).open()
      try {
        await activate(rogue, addresses[bound])
      } catch (error) {
        expect(isTetherError(error) && error.code === 'bound-to-other-manager', `expected a bound-to-other-manager refusal, got ${(error as Error).message}`)
        expect(new DsaCore(dsaCores[bound]).state() === 'pre-activated', 'the bound agent is still pre-activated')
        return `refused before any activation command ran: ${error.message.split(';')[0]}`
      } finally {
        await rogue.close()
      }

      throw new TetherError('internal', 'demo-step-failed', 'the rogue manager was not refused')
    })

    await step('Activate agent 1 (manager-initiated: CSR on the agent, CA signs, mutual TLS confirms)', async () => {
      const {computer} = await activate(runtime!.context, addresses[0], {displayName: 'demo agent 1'})
      computers[0] = computer
      expect(daemons[0].runtime.store.state() === 'activated', 'agent 1 is activated')
      return `computer ${computer.id}, certificate serial ${computer.certSerial}; the agent switched to mutual TLS without a restart`
    })

    const manager = runtime!.context
    const heartbeatAddress = await manager.store.meta.get('listening_address')
    let token = ''
    await step('Allow agent-initiated activation with an enrolment token (it is off on a new manager)', async () => {
      await setSetting(manager.store, 'agentInitiatedActivation', 'any')
      token = (await createToken(manager, fingerprint(manager.credentials.anchorCa), {ttlMs: 3_600_000, uses: 1})).text
      return `as \`dsm_c -action changesetting -name settings.configuration.agentInitiatedActivation -value 1\` does; token ${token.slice(0, 12)}… (one use, one hour; it names this CA, which the agent pins)`
    })

    await step('Activate agent 2 (agent-initiated: dsa_control -a dsm://HOST:PORT/ token:…)', async () => {
      const result = await dsaControl(dsaCores[1], ['-a', `dsm://${heartbeatAddress}/`, 'displayname:demo agent 2', 'group:デモ', `token:${token}`, '--max-dsm-retries', '0'], hostnames[1])
      expect(result.exitCode === 0 && result.stdout.includes('HTTP Status: 200 - OK'), `dsa_control -a printed ${result.stdout.trim()} ${result.stderr.trim()}`)
      computers[1] = await findComputer(manager.store, hostnames[1])
      const commands = result.stdout.split('\n').filter((line) => line.startsWith('Received a ')).length
      return `dsa_control printed "HTTP Status: 200 - OK" and a session of ${commands} commands; the manager recorded computer ${computers[1].id} (group ${computers[1].group})`
    })

    for (let i = 2; i < options.agents; i++) {
      const isBound = i === bound
      await step(`Activate agent ${i + 1}${isBound ? ' (bound: the manager proves it holds the bound certificate)' : ' (manager-initiated)'}`, async () => {
        const {computer} = await activate(manager, addresses[i], {displayName: `demo agent ${i + 1}`})
        computers[i] = computer
        return `computer ${computer.id} activated`
      })
    }

    await step('Push a policy to agent 1: gzip, signed by the manager (CMS SignedData), then PKCS#7 EnvelopedData (AES-256, RSA-OAEP) to its certificate', async () => {
      const {policy} = await savePolicy(manager, 'demo-baseline', {firewall: {enabled: true, allow: ['22/tcp', '4118/tcp']}, antiMalware: {realTime: true}})
      const {computer} = await assignPolicy(manager, policy.name, String(computers[0].id))
      const outcome = await contactNow(manager, computer)
      expect(outcome.contacted, `agent 1 was not reached: ${outcome.reason}`)
      if (outcome.report) await settleContact(manager, computer, outcome.report)
      const applied = daemons[0].runtime.store.appliedConfiguration()
      expect(applied?.sha256 === policy.sha256, 'agent 1 reports the policy fingerprint')
      return `agent 1 applied ${policy.name} v${applied!.version}, fingerprint ${applied!.sha256.slice(0, 16)}… (the same on both sides)`
    })

    await step('Heartbeat from agent 2: the agent opens the TCP connection, the manager sends the requests', async () => {
      const before = (await reload(manager.store, computers[1].id)).lastSeenAt
      const beat = await heartbeatOnce(daemons[1].runtime)
      const after = await reload(manager.store, computers[1].id)
      expect(after.lastSeenAt && after.lastSeenAt !== before, 'the manager recorded the heartbeat')
      const events = (await manager.store.events.list({computerId: computers[1].id})).length
      return `to ${beat.address}; last seen ${after.lastSeenAt}; ${events} event(s) picked up and acknowledged`
    })

    await step('Inspect the handshake with agent 1, as the manager', async () => {
      const report = await inspectEndpoint({target: addresses[0], as: 'manager', home, handshakeOnly: true, settleMs: 300, env: {}})
      expect(report.ok && report.peer.kind === 'own-agent', `inspect verdicts: ${JSON.stringify(report.verdicts)}`)
      return `${report.handshake.protocol} ${report.handshake.cipher}; peer is an agent certificate of this CA; chain ${report.verdicts.chain.code}, revocation ${report.verdicts.revocation.code}`
    })

    await step('Deactivate agent 1: the agent clears its credentials, the manager revokes its certificate', async () => {
      const result = await deactivate(manager, String(computers[0].id))
      expect(result.outcome === 'deactivated', `deactivation ${result.outcome}: ${result.reason}`)
      expect(daemons[0].runtime.store.state() === 'unactivated', 'agent 1 is back in the bootstrap context')
      expect((await manager.store.certificates.revoked()).some((r) => r.serial === computers[0].certSerial), 'the CRL lists its serial')
      return `agent 1 presents the bootstrap certificate again; serial ${computers[0].certSerial} is in the CRL`
    })

    await step('Reset agent 2 locally with dsa_control -r', async () => {
      const result = await dsaControl(dsaCores[1], ['-r'], hostnames[1])
      expect(result.exitCode === 0, `dsa_control -r failed: ${result.stderr}`)
      expect(daemons[1].runtime.store.state() === 'unactivated', 'agent 2 is unactivated')
      return result.stdout.trim().split('\n').join('; ')
    })

    return {ok: true, dir, steps}
  } catch (error) {
    if (steps.length > 0 && !steps.at(-1)!.ok) return {ok: false, dir, steps}
    throw error
  } finally {
    await Promise.allSettled(daemons.map((d) => d.stop()))
    await runtime?.stop()
    if (!options.keep) fs.rmSync(dir, {recursive: true, force: true})
  }
}
