import path from 'node:path'

import {Args, Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {yesFlag} from '../../cli/flags.js'
import {passphraseFileFlag, readPassphrase} from '../../cli/passphrase.js'
import {confirmOrRefuse} from '../../cli/prompt.js'
import {fieldLines} from '../../cli/render.js'
import {checkRestore, restoreBackup} from '../../manager/restore.js'

export default class ManagerRestore extends ManagerCommand {
  static summary = 'Restore a manager home from a backup (on this machine or a new one); its agents keep working'
  static description = `Verifies the whole backup first (its checksum and AES-256-GCM tag, under the passphrase), then builds the home in a staging directory beside --home and renames it into place, as \`manager init\` does: keys 0600, the home 0700, nothing written when anything is wrong. A wrong passphrase, a truncated or tampered file, a file that is not a tether backup and a backup from a newer tether are each refused with their own code. An initialized home is never replaced unless --force is given and confirmed (at the prompt on a terminal, or with --yes); stop its manager first. Then run \`tether manager start\` on the same address and port the agents were told (\`manager show\` and the heartbeat port of the old machine).`
  static examples = [
    '<%= config.bin %> manager restore /backups/tether.tbk --home /var/lib/tether/manager',
    '<%= config.bin %> manager restore tether.tbk --home /var/lib/tether/manager --passphrase-file /root/.tether-backup-passphrase --force --yes',
  ]

  static args = {file: Args.string({description: 'the backup written by `tether manager backup`', required: true})}
  static flags = {
    'passphrase-file': passphraseFileFlag,
    force: Flags.boolean({description: 'replace an initialized home with the backup', default: false}),
    yes: yesFlag,
  }

  async run() {
    const {args, flags} = await this.parse(ManagerRestore)
    const {dir} = this.home
    checkRestore(args.file, dir, flags.force)
    if (flags.force && this.home.looksInitialized()) {
      await confirmOrRefuse(`Replace the manager home ${dir} with the backup ${args.file}`, {yes: flags.yes, flagHint: '--yes'})
    }

    const passphrase = await readPassphrase(flags['passphrase-file'], {creating: false})
    const {home, manifest} = await restoreBackup(args.file, dir, passphrase, {force: flags.force})
    const summary = await home.summary()
    this.log(`Restored manager home ${summary.home} from the backup of ${manifest.createdAt}`)
    this.log(fieldLines([
      ['CA', summary.ca.subject],
      ['Manager certificate', summary.manager.subject],
      ['SHA-256', summary.manager.sha256],
      ['Computers', summary.computers],
    ], '  ').join('\n'))
    this.log('Start it with `tether manager start` on the address and port its agents were told.')
    return {...summary, backup: {file: path.resolve(args.file), createdAt: manifest.createdAt, tetherVersion: manifest.tetherVersion ?? null, files: manifest.files.map((f) => f.name)}}
  }
}
