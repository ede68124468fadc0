import fs from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {TetherError, errnoCode} from '../../../errors.js'
import {parsePolicyDocument, savePolicy} from '../../../manager/policies.js'

export default class PoliciesCreate extends ManagerCommand {
  static summary = 'Create a policy from a JSON document (or a new version with --replace)'
  static description = 'A policy is a named JSON object. With --replace an existing policy gets a new version, and a configuration update is queued for every computer it is assigned to. Read from --file, or from standard input with --file -.'
  static examples = [
    '<%= config.bin %> manager policies create web --file web-policy.json',
    'echo \'{"firewall":{"enabled":true}}\' | <%= config.bin %> manager policies create web --file - --replace',
  ]

  static args = {name: Args.string({description: 'policy name', required: true})}
  static flags = {
    file: Flags.string({char: 'f', description: 'JSON document, or - for standard input', required: true}),
    replace: Flags.boolean({description: 'make a new version of an existing policy', default: false}),
  }

  async run() {
    const {args, flags} = await this.parse(PoliciesCreate)
    let text: string
    try {
      text = fs.readFileSync(flags.file === '-' ? 0 : flags.file, 'utf8')
    } catch (error) {
      throw new TetherError('notFound', 'policy-file-unreadable', `cannot read ${flags.file} (${errnoCode(error) ?? (error as Error).message})`)
    }

    const document = parsePolicyDocument(text, flags.file === '-' ? 'standard input' : flags.file)
    const {policy, queued} = await savePolicy(await this.storeContext(), args.name, document, {replace: flags.replace})
    this.log(`Policy ${policy.name} version ${policy.version} (SHA-256 ${policy.sha256})${queued ? `; update queued for ${queued} computer(s)` : ''}`)
    return {policy, queued}
  }
}
