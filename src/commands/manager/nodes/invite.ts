import {Flags} from '@oclif/core'

import {ManagerCommand} from '../../../cli/base-command.js'
import {fieldLines} from '../../../cli/render.js'
import {DEFAULT_INVITATION_TTL_MS, createInvitation} from '../../../manager/invitation.js'
import {thisNode} from '../../../manager/nodes.js'
import {parseDuration} from '../../../platform/duration.js'

export default class NodesInvite extends ManagerCommand {
  static summary = 'Write a one-time invitation for a new manager node (0600, expiring)'
  static description = `The file holds what the new node needs besides database access: the installation's key-encryption key (the database holds the CA key sealed under it), the CA certificate, the database URL without its password, and a secret the database keeps only the SHA-256 of. It adds one node (\`tether manager join --invite FILE\`), until it expires. Treat it like the CA key: whoever holds it and can reach the database can issue certificates. Move it over a private channel and delete it after the join.`
  static examples = [
    '<%= config.bin %> manager nodes invite --output /root/dsm2.invite --ttl 30m',
    'scp -p /root/dsm2.invite dsm2:/root/ && ssh dsm2 tether manager join --invite /root/dsm2.invite --hostname dsm2.example.internal --name dsm2',
  ]

  static flags = {
    output: Flags.string({char: 'o', description: 'file to write (mode 0600)', required: true, helpValue: 'FILE'}),
    ttl: Flags.string({description: 'valid for this long (default 1h)', helpValue: 'DURATION'}),
  }

  async run() {
    const {flags} = await this.parse(NodesInvite)
    const ttlMs = flags.ttl === undefined ? DEFAULT_INVITATION_TTL_MS : parseDuration(flags.ttl, '--ttl')
    thisNode(this.home)
    const {file, invitation, database} = await createInvitation(await this.manager(), this.home, {output: flags.output, ttlMs})
    this.log(`Wrote invitation ${invitation.id} to ${file} (mode 0600)`)
    this.log(fieldLines([['Expires', invitation.expiresAt], ['Database', database], ['Join with', `tether manager join --invite ${file} --database URL`]], '  ').join('\n'))
    return {file, id: invitation.id, expiresAt: invitation.expiresAt, database, createdBy: invitation.createdBy}
  }
}
