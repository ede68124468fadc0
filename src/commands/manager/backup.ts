import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../cli/base-command.js'
import {passphraseFileFlag, readPassphrase} from '../../cli/passphrase.js'
import {fieldLines} from '../../cli/render.js'
import {checkBackupSource, createBackup} from '../../manager/backup.js'

export default class ManagerBackup extends ManagerCommand {
  static summary = 'Back up the manager: CA and manager keys and certificates and the registry, in one passphrase-encrypted file'
  static description = `Writes one file (mode 0600, atomically) holding the CA key and certificate, the manager key and certificate, any other file of the home, and a consistent copy of the registry taken with SQLite's online backup, so it can run while \`tether manager start\` serves agents. The file is encrypted with AES-256-GCM under a key derived from the passphrase with scrypt (N=2^16, r=8, p=1); its header (format version, scrypt parameters, salt, IV) is authenticated with it. The passphrase is asked for twice on a terminal, or read from the first line of --passphrase-file; it is never taken on the command line and never printed. Restore with \`tether manager restore FILE --home DIR\`. A home whose registry is on PostgreSQL is refused: back up the database with pg_dump and each node's home with your file backups.`
  static examples = [
    '<%= config.bin %> manager backup --output /backups/tether-$(date +%F).tbk',
    '<%= config.bin %> manager backup --output /backups/tether.tbk --passphrase-file /root/.tether-backup-passphrase',
  ]

  static flags = {
    output: Flags.string({char: 'o', description: 'the backup file to write (outside the manager home)', helpValue: 'FILE', required: true}),
    'passphrase-file': passphraseFileFlag,
  }

  async run() {
    const {flags} = await this.parse(ManagerBackup)
    const store = await this.store()
    checkBackupSource(this.home, store, flags.output)
    const passphrase = await readPassphrase(flags['passphrase-file'], {creating: true})
    const result = await createBackup(this.home, store, flags.output, passphrase, {tetherVersion: this.config.version})
    this.log(`Wrote ${result.file} (${result.bytes} bytes, AES-256-GCM, key from scrypt N=2^${result.kdf.log2N} r=${result.kdf.r} p=${result.kdf.p})`)
    this.log(fieldLines([['Manager GUID', result.managerGuid], ['Computers', result.computers], ['Files', result.files]], '  ').join('\n'))
    this.log('Keep the passphrase apart from the file: without it the backup cannot be restored.')
    return result
  }
}
