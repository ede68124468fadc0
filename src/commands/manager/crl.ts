import path from 'node:path'

import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {TetherError, errnoCode} from '../../errors.js'
import {currentCrl} from '../../manager/revocation.js'
import {PUBLIC_FILE_MODE, writeFileAtomic} from '../../platform/fsutil.js'

export default class ManagerCrl extends ManagerCommand {
  static summary = "Publish the CA's certificate revocation list (PEM, signed by the CA)"
  static description = 'Lists every revoked agent certificate (deactivated, removed, superseded). Check it with `openssl crl -in FILE -CAfile ca.crt -verify`. Without --output, the PEM goes to standard output.'
  static examples = ['<%= config.bin %> manager crl --output /srv/www/tether.crl', '<%= config.bin %> manager crl | openssl crl -noout -text']
  static flags = {output: Flags.string({char: 'o', description: 'file to write', helpValue: 'FILE'})}

  async run() {
    const {flags} = await this.parse(ManagerCrl)
    const manager = await this.manager()
    const {pem} = await currentCrl(manager)
    const revoked = await manager.store.certificates.revoked()
    if (flags.output) {
      try {
        writeFileAtomic(path.resolve(flags.output), pem, PUBLIC_FILE_MODE)
      } catch (error) {
        throw new TetherError('usage', 'crl-unwritable', `cannot write ${flags.output} (${errnoCode(error) ?? (error as Error).message})`, {hint: 'choose a directory that exists and that you may write to'})
      }

      this.log(`Wrote ${path.resolve(flags.output)}: ${revoked.length} revoked certificate(s)`)
    } else {
      this.log(pem.trimEnd())
    }

    return {file: flags.output ? path.resolve(flags.output) : null, revoked, pem}
  }
}
