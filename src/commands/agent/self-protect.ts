import {Args} from '@oclif/core'

import {requireUnprotected, setSelfProtection} from '../../agent/self-protection.js'
import {passwordFlag} from '../../cli/agent-flags.js'
import {AgentCommand} from '../../cli/base-command.js'
import {passwordOrAsk} from '../../cli/prompt.js'
import {statusLine, withClassicStatus} from '../../compat/status.js'
import {TetherError} from '../../errors.js'

export default class AgentSelfProtect extends AgentCommand {
  static summary = 'Turn self-protection on (1) or off (0) locally (dsa_control -s 1|0 -p PASSWORD)'
  static description = "When the manager's policy sets a self-protection password ({\"selfProtection\": {\"password\": \"...\"}}), the agent keeps only its scrypt hash, and local reset, heartbeat with changes, self-protect, proxy credentials and diagnostics need it (--password, dsa_control -p); activation and the proxy address never do. Turning protection off needs the password; it stays off until the next policy that sets a password, or self-protect 1."
  static examples = ['dsa_control -s 0 -p s3cret', '<%= config.bin %> agent self-protect 1']
  static args = {state: Args.string({description: '1 (on) or 0 (off)', required: true, options: ['1', '0']})}
  static flags = {password: passwordFlag}

  async run() {
    const {args, flags} = await this.parse(AgentSelfProtect)
    const store = this.dsaCore
    return withClassicStatus(this.output, async () => {
      if (!store.exists()) throw new TetherError('notFound', 'dsa-core-missing', `there is no agent at ${store.dir}`, {hint: "point --dsa-core / $TETHER_DSA_CORE at the agent's dsa_core directory"})
      await requireUnprotected(store, 'dsa_control -s', await passwordOrAsk(flags.password, 'Self-protection password'))
      const status = setSelfProtection(store, args.state === '1')
      this.log(`${statusLine(200)}\nSelf-protection ${status.enabled ? 'on' : 'off'}${status.passwordSet ? '' : ' (the policy sets no password: nothing is guarded until one does)'}`)
      return {dsaCore: store.dir, selfProtection: status}
    })
  }
}
