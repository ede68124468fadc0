import path from 'node:path'

import {fingerprint} from '../pki/certificate.js'
import {filesStamp} from '../platform/fsutil.js'
import {ROTATION_FILES} from './ca-rotation-files.js'
import type {ManagerContext} from './context.js'
import type {ManagerHome} from './home.js'

/**
 * A CA rotation step (run by `tether manager ca rotate`, another process) or a renewal of the
 * manager certificate (by the running manager's poller) changes the home's CA and certificate
 * files: each process that serves reads the credentials again, and its listener takes them at
 * refresh.
 */
export class HomeFollower {
  private stamp = ''

  constructor(private readonly home: ManagerHome, private readonly context: ManagerContext) {}

  async follow(): Promise<void> {
    const stamp = filesStamp([path.join(this.home.dir, ROTATION_FILES.state), this.home.file('caCert'), this.home.file('managerCert')])
    if (stamp === this.stamp) return
    const first = this.stamp === ''
    this.stamp = stamp
    if (first) return
    this.context.credentials = await this.home.credentials(this.context.store)
    this.context.log.info('credentials-reloaded', {caRotation: this.context.credentials.rotation?.phase ?? 'none', issuingCa: fingerprint(this.context.credentials.caCert), manager: fingerprint(this.context.credentials.managerCert)})
  }
}
