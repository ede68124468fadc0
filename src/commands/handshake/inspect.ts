import {Args, Flags} from '@oclif/core'

import {TetherCommand} from '../../cli/base-command.js'
import {renderFailure} from '../../cli/errors.js'
import {dsaCoreFlag, homeFlag} from '../../cli/flags.js'
import {fieldLines, paint, printable} from '../../cli/render.js'
import {CertificateDetail, InspectReport, PROBE_IDENTITIES, ProbeIdentity, Verdict, inspectEndpoint, inspectError} from '../../inspect/inspect.js'

const VERDICT_LABELS: Record<keyof InspectReport['verdicts'], string> = {
  chain: 'chain',
  binding: 'binding',
  revocation: 'revocation',
  clientCertificate: 'client certificate',
  clock: 'clock',
}

function certificateLines(cert: CertificateDetail): string[] {
  const left = cert.daysLeft >= 0 ? `${cert.daysLeft} days left` : `expired ${-cert.daysLeft} days ago`
  return [
    `  #${cert.depth} ${cert.subject}${cert.sentByPeer === false ? ' (from our trust store, not sent by the peer)' : ''}`,
    ...fieldLines([
      ['Issuer', cert.issuer + (cert.selfSigned ? ' (self-signed)' : '')],
      ['Names', cert.subjectAltNames],
      ['Valid', `${cert.notBefore} to ${cert.notAfter} (${cert.validity === 'valid' ? left : cert.validity})`],
      ['Key', cert.key + (cert.isCA ? ', CA' : '')],
      ['Signature', cert.signatureAlgorithm],
      ['Serial', cert.serial],
      ['SHA-256', cert.sha256],
    ], '     '),
  ]
}

function verdictLine(name: string, verdict: Verdict): string {
  const colour = paint.stdout
  const word = verdict.status === 'pass' ? colour.green('PASS') : verdict.status === 'fail' ? colour.red('FAIL') : colour.dim('SKIP')
  return `  ${word}  ${name.padEnd(18)} ${verdict.code}: ${printable(verdict.detail)}`
}

export default class HandshakeInspect extends TetherCommand {
  static summary = 'Probe a TLS endpoint and explain the handshake in tether\'s terms'
  static description = `Connects to HOST[:PORT] and reports the protocol, cipher suite, key exchange group, ALPN and resumption; the peer's certificate chain (subject, issuer, names, validity, key, signature algorithm, serial, SHA-256); what the peer is (an unactivated agent's bootstrap certificate, an agent of this manager, this manager, or foreign); and the verdicts: does its chain verify to our CA, does it match the binding (ds_agent_dsm.crt), is it revoked, did it ask for and accept our client certificate, is its clock close to ours. The peer's chain is captured even when it does not verify. When the handshake fails, says at which stage, why in plain words, the OpenSSL error, and the likely fix.

Identity (--as): manager presents the manager certificate from the manager home; agent presents the agent's certificate from dsa_core (the bootstrap certificate before activation) and checks the peer against ds_agent_dsm_ca.crt and ds_agent_dsm.crt; anonymous presents none. Default: manager when --home is given, agent when --dsa-core is given, else manager when a manager home exists ($TETHER_MANAGER_HOME or the per-user default), else anonymous. The default port is the agent's (4118), or the manager's heartbeat port (4120) with --as agent.

A tether agent (bootstrap certificate, or issued by our CA) is asked the read-only GetHostInfo after the handshake, as the manager would, to learn whether it accepts us (a binding is enforced there) and its clock; --handshake-only skips that.

Exit status: 0 when the handshake succeeds and no verdict fails; 5 when the handshake or a verdict fails; 6 when the endpoint cannot be reached.`
  static examples = [
    '<%= config.bin %> handshake inspect 10.0.0.12',
    '<%= config.bin %> handshake inspect 127.0.0.1:4118 --as anonymous --json | jq .verdicts',
    '<%= config.bin %> handshake inspect manager.example.internal:4120 --as agent --dsa-core /var/opt/ds_agent/dsa_core',
    '<%= config.bin %> handshake inspect 10.0.0.12:4118 --keylog /tmp/tls-keys.log   # open the capture in Wireshark with this key log',
  ]

  static args = {target: Args.string({description: 'HOST[:PORT] to connect to', required: true})}
  static flags = {
    as: Flags.string({description: 'identity to present (default: see above)', options: PROBE_IDENTITIES}),
    home: homeFlag,
    'dsa-core': dsaCoreFlag,
    servername: Flags.string({description: 'TLS server name (SNI) to send (default: HOST when it is a name)', helpValue: 'NAME'}),
    keylog: Flags.string({description: 'append the TLS secrets to FILE (NSS key log format, mode 0600) for Wireshark', helpValue: 'FILE'}),
    alpn: Flags.string({description: 'offer this ALPN protocol (repeatable)', multiple: true, helpValue: 'PROTOCOL'}),
    'handshake-only': Flags.boolean({description: 'do not ask a tether agent GetHostInfo after the handshake', default: false}),
    timeout: Flags.integer({description: 'seconds to wait for the connection and the handshake', default: 10, min: 1}),
    settle: Flags.integer({description: 'TLS 1.3: milliseconds to wait for a refusal of our certificate after the handshake', default: 1000, min: 0, hidden: true}),
  }

  async run() {
    const {args, flags} = await this.parse(HandshakeInspect)
    const report = await inspectEndpoint({
      target: args.target,
      as: flags.as as ProbeIdentity | undefined,
      home: flags.home,
      dsaCore: flags['dsa-core'],
      servername: flags.servername,
      keylog: flags.keylog,
      alpn: flags.alpn,
      handshakeOnly: flags['handshake-only'],
      timeoutMs: flags.timeout * 1000,
      settleMs: flags.settle,
    })
    const error = inspectError(report)
    if (!this.jsonEnabled()) this.render(report)
    if (!error) return report
    // The report is the document; the error joins it (with --json) or follows it (for a human).
    process.exitCode = renderFailure(error, {json: this.jsonEnabled(), document: report as unknown as Record<string, unknown>})
    return undefined
  }

  private render(report: InspectReport): void {
    const {handshake: hs, peer, clientCertificate: cc} = report
    const kx = hs.keyExchange ? `${hs.keyExchange.name ?? hs.keyExchange.type}${hs.keyExchange.size ? ` (${hs.keyExchange.size} bits)` : ''}` : undefined
    const handshake = hs.completed
      ? [hs.protocol, hs.cipher, kx && `key exchange ${kx}`, `ALPN ${hs.alpn || 'none'}`, hs.resumed ? 'resumed session' : `new session${hs.sessionTickets ? ` (${hs.sessionTickets} tickets offered)` : ''}`].filter(Boolean).join(', ')
      : `not completed${hs.protocol ? ` (${hs.protocol} chosen by the peer)` : ''}`
    const clientCertificate = [
      cc.requested === undefined ? 'not known whether the peer asked for one' : cc.requested ? 'requested by the peer' : 'not requested',
      cc.acceptableCAs?.length ? `acceptable CAs: ${cc.acceptableCAs.join('; ')}` : undefined,
      report.presented ? (cc.requested === undefined ? undefined : cc.sent ? 'ours sent' : 'ours not sent') : 'none to send (anonymous)',
      cc.accepted === undefined ? undefined : cc.accepted ? 'accepted' : 'refused',
    ].filter(Boolean).join('; ')
    const answer = report.agentAnswer
    const answerText = answer ? (answer.status === 200 ? `GetHostInfo: ${answer.hostname}, ${answer.state}, clock ${answer.clock}` : `GetHostInfo refused: ${answer.error?.code ? `${answer.error.code}: ` : ''}${answer.error?.message}`) : undefined
    this.log(fieldLines([
      ['Probe', `${report.target} as ${report.as} (${report.asSource})`],
      ['Presented', report.presented ? `${report.presented.subject} [SHA-256 ${report.presented.sha256}]` : 'no certificate'],
      ['Trust anchor', report.trust.anchor ?? 'none'],
      ['CRL', report.trust.crl ? `number ${report.trust.crl.number} from ${report.trust.crl.source}, next update ${report.trust.crl.nextUpdate ?? 'none'}${report.trust.crl.daysLeft === undefined ? '' : ` (${report.trust.crl.daysLeft} days left)`}` : undefined],
      ['Handshake', handshake],
      ['Peer', peer.chain.length > 0 ? peer.description : undefined],
      ['Client certificate', clientCertificate],
      ['Agent answer', answerText],
      ['Key log', report.keylog ? `${report.keylog.lines} lines appended to ${report.keylog.file}` : undefined],
    ]).join('\n'))
    if (peer.chain.length > 0) {
      this.log(`Peer certificate chain (${peer.chainSource === 'wire' ? 'read from the handshake records' : 'from the TLS stack'})`)
      for (const cert of peer.chain) this.log(certificateLines(cert).join('\n'))
    }

    this.log('Verdicts')
    for (const [name, verdict] of Object.entries(report.verdicts)) this.log(verdictLine(VERDICT_LABELS[name as keyof InspectReport['verdicts']], verdict))
    if (report.ok) {
      this.log(`Result: ${paint.stdout.green('OK')}`)
      return
    }

    const failure = report.failure
    this.log(`Result: ${paint.stdout.red('FAILED')}${failure ? ` at ${failure.stage}: ${failure.reason}` : ''}`)
    if (failure) {
      const openssl = failure.openssl
      this.log(fieldLines([
        ['What happened', failure.message],
        ['OpenSSL', openssl ? [openssl.code, openssl.error, openssl.alert === undefined ? undefined : `alert ${openssl.alert}`, openssl.verifyResult === undefined ? undefined : `verify result ${openssl.verifyResult}`].filter(Boolean).join(', ') : undefined],
        ['Likely fix', failure.fix],
      ], '  ').join('\n'))
    }
  }
}
