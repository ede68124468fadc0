import {TetherError, isTetherError} from '../errors.js'
import {DirLock} from '../platform/lock.js'

/**
 * One running manager per home (`tether manager start`), for the whole time it runs: a second one
 * on an embedded home would take over the address agents are told and leave them a dead port
 * when it stops; on PostgreSQL each node runs on its own home. The OS drops the lock when the
 * holder dies, so a killed manager never blocks the next start.
 */

export const MANAGER_DAEMON_LOCK = '.tether-manager.lock'

export async function lockManagerHome(dir: string): Promise<DirLock> {
  try {
    return await DirLock.acquireAsync(dir, {file: MANAGER_DAEMON_LOCK, waitMs: 0, what: `the manager home ${dir}`})
  } catch (error) {
    if (!isTetherError(error) || error.code !== 'locked') throw error
    const pid = DirLock.liveHolder(dir, MANAGER_DAEMON_LOCK)?.pid
    throw new TetherError('refused', 'manager-running', `a manager is already running on the home ${dir}${pid === undefined ? '' : ` (process ${pid})`}`, {
      hint: pid === undefined
        ? 'stop it first; to run several managers, give each node its own home on a shared PostgreSQL registry (see "Several managers" in the README)'
        : `stop it first (kill ${pid}); to run several managers, give each node its own home on a shared PostgreSQL registry (see "Several managers" in the README)`,
    })
  }
}
