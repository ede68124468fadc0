import {ManagerCommand} from '../../../cli/base-command.js'
import {tokenRefusal} from '../../../manager/store/rules.js'

export default class TokensList extends ManagerCommand {
  static summary = 'List enrolment tokens: id, state, uses, expiry, policy and group (never the secret)'
  static examples = ['<%= config.bin %> manager tokens list', '<%= config.bin %> manager tokens list --json | jq -r \'.tokens[] | select(.state == "live") | .id\'']

  async run() {
    await this.parse(TokensList)
    const now = new Date()
    const tokens = (await (await this.store()).tokens.list()).map(({secretSha256, ...token}) => ({...token, state: tokenRefusal({secretSha256, ...token}, now) ?? 'live'}))
    if (tokens.length === 0) this.log('No enrolment tokens')
    for (const t of tokens) {
      this.log(`${t.id}  ${t.state.padEnd(8)} uses ${t.uses}${t.usesAllowed === null ? '' : `/${t.usesAllowed}`}  expires ${t.expiresAt ?? 'never'}${t.policy ? `  policy ${t.policy}` : ''}${t.group ? `  group ${t.group}` : ''}`)
    }

    return {tokens}
  }
}
