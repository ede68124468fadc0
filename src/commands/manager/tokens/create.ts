import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {fieldLines} from '../../../cli/render.js'
import {createToken} from '../../../manager/enrolment.js'
import {fingerprint} from '../../../pki/certificate.js'
import {parseDuration} from '../../../platform/duration.js'

export default class TokensCreate extends ManagerCommand {
  static summary = 'Create an enrolment token for agent-initiated activation (dsa_control -a ... "token:TOKEN")'
  static description = `Prints one word, tt1.SECRET.FINGERPRINT: the agent pins this manager's CA from the fingerprint before it sends anything, and the manager checks the secret (it keeps only its SHA-256; the token is shown once). --ttl and --uses bound it; --policy and --group, when given, win over the words on the agent's command line. Once any token exists, agent-initiated activation needs one (or the classic activationToken).`
  static examples = [
    '<%= config.bin %> manager tokens create --ttl 24h --uses 50 --group "web/production"',
    'TOKEN=$(<%= config.bin %> manager tokens create --ttl 1h --uses 1 --json | jq -r .token)',
  ]

  static flags = {
    ttl: Flags.string({description: 'valid for this long (30m, 24h, 7d); default: until revoked', helpValue: 'DURATION'}),
    uses: Flags.integer({description: 'at most this many activations (default: any number)', min: 1}),
    policy: Flags.string({description: 'policy the activated computers get (wins over policyid: on the command line)'}),
    group: Flags.string({description: 'group the activated computers go in (wins over group:)'}),
  }

  async run() {
    const {flags} = await this.parse(TokensCreate)
    const ttlMs = flags.ttl === undefined ? undefined : parseDuration(flags.ttl, '--ttl')
    const manager = await this.manager()
    const {text, token} = await createToken(manager, fingerprint(manager.credentials.anchorCa), {ttlMs, uses: flags.uses, policy: flags.policy, group: flags.group})
    this.log(text)
    this.logToStderr(fieldLines([
      ['Token id', token.id],
      ['Expires', token.expiresAt ?? 'never (revoke it with `tether manager tokens revoke`)'],
      ['Uses', token.usesAllowed ?? 'any number'],
      ['Policy', token.policy],
      ['Group', token.group],
    ], '  ').join('\n'))
    const {secretSha256, ...shown} = token
    return {token: text, ...shown}
  }
}
