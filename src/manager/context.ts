import type {Logger} from '../platform/log.js'
import type {ManagerCredentials} from './credentials.js'
import type {ManagerStore} from './store/store.js'

/**
 * What every manager operation works with: the installation's credentials (CA and manager
 * certificate), its store, the clock (injected so time can be moved in tests) and the log (a
 * running manager's; silent for one-shot commands).
 */
export interface ManagerContext {
  credentials: ManagerCredentials
  readonly store: ManagerStore
  readonly log: Logger
  /** On PostgreSQL, the name of the node this process runs as. */
  readonly node?: string
  now(): Date
}

export const systemClock = (): Date => new Date()

/** The part of the context that needs no private key: the store and the clock. */
export type StoreContext = Pick<ManagerContext, 'store' | 'now'>
