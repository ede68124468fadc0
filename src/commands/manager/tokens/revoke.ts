import {Args} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {TetherError} from '../../../errors.js'

export default class TokensRevoke extends ManagerCommand {
  static summary = 'Revoke an enrolment token: it activates nothing more (computers it activated stay)'
  static examples = ['<%= config.bin %> manager tokens revoke 3f9a1c2e']
  static args = {id: Args.string({description: 'the token id (from `tether manager tokens list`)', required: true})}

  async run() {
    const {args} = await this.parse(TokensRevoke)
    const store = await this.store()
    if (!(await store.tokens.revoke(args.id, new Date()))) {
      const known = (await store.tokens.list()).some((token) => token.id === args.id)
      throw new TetherError(known ? 'refused' : 'notFound', known ? 'token-already-revoked' : 'token-not-found', known ? `token ${args.id} is already revoked` : `no enrolment token ${args.id}`, {hint: 'list them with `tether manager tokens list`'})
    }

    this.log(`Token ${args.id} revoked`)
    return {id: args.id, revoked: true}
  }
}
