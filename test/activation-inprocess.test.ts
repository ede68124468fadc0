import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import zlib from 'node:zlib'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AgentRuntime, AgentServer} from '../src/agent/server.js'
import type {ManagerContext} from '../src/manager/context.js'
import {ManagerHome, initManagerHome} from '../src/manager/home.js'
import {activate} from '../src/manager/manager-initiated.js'
import {openAgentConnection} from '../src/manager/connections.js'
import {contactNow, runContact} from '../src/manager/contact.js'
import {HttpSession} from '../src/channel/http-session.js'
import {deactivate} from '../src/manager/deactivation.js'
import {tempDir} from './helpers.js'

/**
 * Where the manager and agent runtimes meet, in one process: the manager's activation, contact and
 * deactivation against a real agent runtime on a loopback port, no CLI in between. Fast, and the
 * first place a change to either side's half of the protocol shows.
 */

let home: ManagerHome
let manager: ManagerContext & {close(): Promise<void>}
const servers: AgentServer[] = []

beforeAll(async () => {
  home = await initManagerHome(path.join(tempDir(), 'manager'), {hostnames: ['localhost']})
  manager = await home.open()
})

afterAll(async () => {
  for (const server of servers) await server.close()
  await manager.close()
})

async function agentRuntime(hostname: string): Promise<{runtime: AgentRuntime; address: string}> {
  const parent = path.join(tempDir('tether-inprocess-'), 'ds_agent')
  fs.mkdirSync(parent)
  const runtime = await AgentRuntime.open({dsaCore: path.join(parent, 'dsa_core'), hostname})
  const server = new AgentServer(runtime)
  servers.push(server)
  const bound = await server.listen(0, '127.0.0.1')
  return {runtime, address: `127.0.0.1:${bound.port}`}
}

describe('manager and agent runtimes, in one process', () => {
  it('activate: the agent holds a certificate of the manager CA, the registry records it, a second activation changes nothing', async () => {
    const {runtime, address} = await agentRuntime('inproc-1.test')
    const {computer, alreadyActivated} = await activate(manager, address, {displayName: 'in process'})
    expect(alreadyActivated).toBe(false)
    const status = runtime.store.status()
    expect(status.state).toBe('activated')
    expect(status.certificateHash.sha256).toBe(computer.certSha256)
    expect(status.caCertificate?.sha256).toBe((await home.summary()).ca.sha256)
    expect(computer).toMatchObject({hostname: 'inproc-1.test', displayName: 'in process', state: 'activated', address})

    const again = await activate(manager, address)
    expect(again).toMatchObject({alreadyActivated: true, computer: {id: computer.id, certSha256: computer.certSha256}})
    expect(await manager.store.computers.count()).toBeGreaterThanOrEqual(1)
  })

  it('a contact records the agent\'s clock and picks up its events; deactivation revokes and resets it', async () => {
    const {runtime, address} = await agentRuntime('inproc-2.test')
    const {computer} = await activate(manager, address)
    const contact = await contactNow(manager, computer)
    expect(contact).toMatchObject({contacted: true, report: {deactivated: false}})
    const events = await manager.store.events.list({computerId: computer.id})
    expect(events.map((e) => e.type)).toContain('activated')

    const result = await deactivate(manager, String(computer.id))
    expect(result).toMatchObject({outcome: 'deactivated', revoked: true})
    expect(runtime.store.state()).toBe('unactivated')
    expect(await manager.store.certificates.isRevoked(computer.certSha256!)).toBe(true)
  })

  it('the status reply says whether events are waiting: none waiting is one exchange, an agent that does not say is still asked', async () => {
    const {address} = await agentRuntime('inproc-3.test')
    const {computer} = await activate(manager, address)
    expect((await contactNow(manager, computer)).contacted).toBe(true)
    // The real agent: its 'activated' event was picked up by the contact above, so none is waiting now.
    const open = await openAgentConnection(manager, computer)
    try {
      expect((await open.session.command('GetAgentStatus')).eventsWaiting).toBe(false)
    } finally {
      open.session.close()
    }

    // The manager's half, against a stand-in agent over a loopback socket, counting what it is asked.
    const commandsFor = async (eventsWaiting: boolean | undefined): Promise<string[]> => {
      const asked: string[] = []
      const server = http.createServer((req, res) => {
        req.resume()
        asked.push(req.url!.slice(1))
        const status = {state: 'activated', hostname: 'inproc-3.test', certificateSha256: computer.certSha256, clock: new Date().toISOString(), ...(eventsWaiting === undefined ? {} : {eventsWaiting})}
        const body = req.url === '/GetAgentStatus' ? status : {instance: 'stand-in', events: [], more: false}
        const payload = zlib.gzipSync(JSON.stringify(body))
        res.writeHead(200, {'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': payload.length}).end(payload)
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
        await new Promise((resolve) => socket.once('connect', resolve))
        const fresh = (await manager.store.computers.get(computer.id))!
        expect(await runContact(manager, new HttpSession(socket), fresh)).toEqual({deactivated: false})
        return asked
      } finally {
        server.close()
      }
    }

    expect(await commandsFor(false)).toEqual(['GetAgentStatus'])
    expect(await commandsFor(true)).toEqual(['GetAgentStatus', 'GetAgentEvents'])
    expect(await commandsFor(undefined)).toEqual(['GetAgentStatus', 'GetAgentEvents'])
  })
})
