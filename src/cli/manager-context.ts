import type {ManagerContext} from '../manager/activation.js'
import {ManagerHome} from '../manager/home.js'
import {resolveManagerHome} from '../platform/paths.js'

/** Open the manager home named by --home (or the environment) for one command, and close it after. */
export async function withManager<T>(homeFlag: string | undefined, fn: (manager: ManagerContext & {home: ManagerHome}) => Promise<T> | T): Promise<T> {
  const home = new ManagerHome(resolveManagerHome(homeFlag))
  const credentials = home.loadCredentials()
  const db = await home.openRegistry()
  try {
    return await fn({home, credentials, db})
  } finally {
    db.close()
  }
}
