import os from 'node:os'

import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {untilSignalled} from '../../cli/foreground.js'
import {daemonLogger, logFormatFlag, logLevelFlag} from '../../cli/flags.js'
import {postureWarnings} from '../../manager/posture.js'
import {ManagerRuntime} from '../../manager/runtime.js'
import {DEFAULT_MANAGER_PORT} from '../../platform/paths.js'
import {TetherError} from '../../errors.js'

function checkedAddress(text: string): string {
  if (!/^[^\s:/]+:\d{1,5}$/.test(text) || Number(text.split(':')[1]) > 65_535) {
    throw new TetherError('usage', 'bad-advertise', `--advertise "${text}" is not HOST:PORT`, {hint: 'e.g. --advertise dsm2.example.internal:4120'})
  }

  return text
}

export default class ManagerStart extends ManagerCommand {
  static summary = 'Run the manager in the foreground: heartbeat listener and agent contacts'
  static description = `Listens on the heartbeat port as TLS server. When an agent connects, the manager stays the HTTP client: it sends GetAgentStatus, runs the operations queued for that computer, and closes. An agent presenting the shipped bootstrap certificate is asking to activate itself (dsa_control -a), which the settings govern. Computers in manager-initiated mode are contacted by the manager on their heartbeat interval. One manager per home: a second start on the same home is refused with the PID of the running one. On PostgreSQL each node runs on its own home; agents are told every node's address (--advertise for this one), and each computer is polled by one node at a time. The heartbeat listener runs in --workers processes sharing the port (default: one per core; 1: all in this process); this process keeps the lock, the polling and the health endpoint, restarts a worker that dies, and stops them all on SIGINT/SIGTERM. With --json, prints one JSON line when listening. Logs one line per event on stderr: logfmt, or JSON with --log-format json.`
  static examples = ['<%= config.bin %> manager start', '<%= config.bin %> manager start --host 0.0.0.0 --port 4120', '<%= config.bin %> manager start --port 0 --json', '<%= config.bin %> manager start --workers 1']
  static flags = {
    port: Flags.integer({description: 'heartbeat port (0: any free port)', default: DEFAULT_MANAGER_PORT, min: 0, max: 65_535}),
    host: Flags.string({description: 'address to listen on', default: '127.0.0.1'}),
    'poll-ms': Flags.integer({description: 'how often to look for agents the manager must contact', default: 1000, hidden: true}),
    advertise: Flags.string({description: 'HOST:PORT agents are told to send heartbeats to for this manager (default: where it listens; for 0.0.0.0 or ::, this machine\'s hostname)', helpValue: 'HOST:PORT'}),
    'health-port': Flags.integer({description: 'serve GET /healthz on this port: 200 while the store is reachable and the heartbeat listener is up, else 503 (default: off; 0: any free port)', min: 0, max: 65_535}),
    'health-host': Flags.string({description: 'address the health endpoint listens on', default: '127.0.0.1'}),
    workers: Flags.integer({description: 'heartbeat listener processes sharing the port (default: the number of cores; 1: the listener runs in the manager process itself)', min: 1, max: 256}),
    'log-format': logFormatFlag,
    'log-level': logLevelFlag,
  }

  async run() {
    const {flags} = await this.parse(ManagerStart)
    const log = daemonLogger(flags)
    const workers = flags.workers ?? os.availableParallelism()
    const runtime = await ManagerRuntime.open(this.home, {log})
    let bound: Awaited<ReturnType<ManagerRuntime['start']>>
    try {
      bound = await runtime.start(flags.port, flags.host, {
        pollMs: flags['poll-ms'],
        advertise: flags.advertise === undefined ? undefined : checkedAddress(flags.advertise),
        health: flags['health-port'] === undefined ? undefined : {port: flags['health-port'], host: flags['health-host']},
        workers: {count: workers, log: {format: flags['log-format'], level: flags['log-level']}},
      })
    } catch (error) {
      await runtime.stop()
      throw error
    }

    const stopped = untilSignalled(() => runtime.stop())
    const node = runtime.context.node
    const ready = {event: 'listening', host: bound.host, port: bound.port, heartbeatAddress: bound.heartbeatAddress, home: runtime.home.dir, pid: process.pid, workers, ...(node ? {node} : {}), ...(bound.health ? {health: bound.health} : {})}
    if (this.jsonEnabled()) this.jsonLine(ready)
    else this.log(`Manager${node ? ` node ${node}` : ''} listening for heartbeats on ${bound.host}:${bound.port}${workers > 1 ? ` (${workers} worker processes)` : ''}; agents are told ${bound.heartbeatAddress}${bound.health ? `; health at http://${bound.health}/healthz` : ''}`)
    log.info('listening', {host: bound.host, port: bound.port, heartbeatAddress: bound.heartbeatAddress, home: runtime.home.dir, pid: process.pid, workers, node, health: bound.health})
    for (const warning of await postureWarnings(runtime.context)) log.warn(warning.code, {detail: warning.message, hint: warning.hint})
    await stopped
    log.info('stopped', {home: runtime.home.dir})
    this.log('Manager stopped')
    return undefined
  }
}
