import path from 'node:path'

import {Flags} from '@oclif/core'

import {AgentDaemon} from '../../agent/daemon.js'
import {LISTENER_DEFAULTS, MAX_HANDSHAKE_TIMEOUT_SECONDS} from '../../channel/limits.js'
import {AGENT_LOG_FILE, AGENT_LOG_MAX_BYTES} from '../../agent/diagnostics.js'
import {AgentCommand} from '../../cli/base-command.js'
import {untilSignalled} from '../../cli/foreground.js'
import {daemonLogger, logFormatFlag, logLevelFlag} from '../../cli/flags.js'
import {DEFAULT_AGENT_PORT} from '../../platform/paths.js'

export default class AgentStart extends AgentCommand {
  static summary = 'Run the agent in the foreground (HTTPS command server; stops on SIGINT/SIGTERM)'
  static description = `Serves the manager over TLS: before activation in the bootstrap context (the shipped bootstrap certificate; only host information and activation commands), after activation in the mutual context (its CA-issued certificate; the manager must present a certificate from the same CA, verified in the handshake). A bound agent (ds_agent_dsm.crt present) serves only the manager presenting exactly that certificate. Activation and reset take effect without a restart. A connection must finish its TLS handshake within --handshake-timeout and is closed after --idle-timeout of silence; one address may hold at most --max-connections-per-source connections at once. Listens on 127.0.0.1 unless --host says otherwise (use --host 0.0.0.0 for a real deployment). With --json, prints one JSON line when listening. Logs one line per event on stderr (listening, refused handshakes and commands, activation, deactivation, a reset noticed, configuration applied or rejected, failed heartbeats, dsa_control requests, stop): logfmt, or JSON with --log-format json; --log-level debug adds accepted handshakes and sent heartbeats. Secrets are never logged. The same lines are kept in ds_agent.log in dsa_core (at most 1 MiB, plus the previous 1 MiB as ds_agent.log.1) for the diagnostic package (dsa_control -d).`
  static examples = [
    '<%= config.bin %> agent start',
    '<%= config.bin %> agent start --host 0.0.0.0 --port 4118',
    '<%= config.bin %> agent start --port 0 --json   # ephemeral port, reported on stdout',
    '<%= config.bin %> agent start --log-format json --log-level debug 2>>agent.log',
  ]

  static flags = {
    port: Flags.integer({description: 'TCP port for manager-initiated connections (0: any free port)', default: DEFAULT_AGENT_PORT, min: 0, max: 65_535}),
    host: Flags.string({description: 'address to listen on', default: '127.0.0.1'}),
    hostname: Flags.string({description: 'the hostname this agent reports (default: the machine\'s)', env: 'TETHER_AGENT_HOSTNAME'}),
    'clock-offset': Flags.integer({description: 'seconds to add to the clock the agent reports (clock-skew drills)', default: 0, hidden: true, env: 'TETHER_AGENT_CLOCK_OFFSET'}),
    'handshake-timeout': Flags.integer({description: 'seconds a connection may take to finish its TLS handshake before it is closed', default: LISTENER_DEFAULTS.agent.handshakeTimeoutMs / 1000, min: 1, max: MAX_HANDSHAKE_TIMEOUT_SECONDS, helpValue: 'SECONDS'}),
    'idle-timeout': Flags.integer({description: 'seconds a connection may stay silent before it is closed', default: LISTENER_DEFAULTS.agent.idleTimeoutMs / 1000, min: 1, max: 86_400, helpValue: 'SECONDS'}),
    'max-connections-per-source': Flags.integer({description: 'concurrent connections one address may hold; more are refused at once', default: LISTENER_DEFAULTS.agent.maxConnectionsPerSource, min: 1, max: 100_000, helpValue: 'N'}),
    'log-format': logFormatFlag,
    'log-level': logLevelFlag,
  }

  async run() {
    const {flags} = await this.parse(AgentStart)
    const {daemon, host, port} = await AgentDaemon.start({
      dsaCore: this.dsaCore.dir,
      hostname: flags.hostname,
      clockOffsetMs: flags['clock-offset'] * 1000,
      port: flags.port,
      host: flags.host,
      limits: {
        handshakeTimeoutMs: flags['handshake-timeout'] * 1000,
        idleTimeoutMs: flags['idle-timeout'] * 1000,
        maxConnectionsPerSource: flags['max-connections-per-source'],
      },
      // Also kept in a size-capped file in dsa_core, for the diagnostic package (dsa_control -d).
      logger: daemonLogger(flags, {path: path.join(this.dsaCore.dir, AGENT_LOG_FILE), maxBytes: AGENT_LOG_MAX_BYTES}),
    })
    const {store} = daemon.runtime
    const stopped = untilSignalled(() => daemon.stop())
    const ready = {event: 'listening', host, port, state: store.state(), dsaCore: store.dir, pid: process.pid}
    if (this.jsonEnabled()) this.jsonLine(ready)
    else this.log(`Agent listening on ${host}:${port} (${ready.state}); dsa_core ${store.dir}`)

    await stopped
    this.log('Agent stopped')
    // The ready line was the JSON document; nothing more is printed.
    return undefined
  }
}
