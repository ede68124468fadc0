import type {CommandSession, HttpSession} from '../channel/http-session.js'
import type {FailureLimiter} from './rate-limit.js'

/**
 * What a heartbeat listener shares with the other listener processes of one node (`manager start
 * --workers N`: the kernel hands each connection to any of them). The failed-activation counts are
 * the node's, not each process's; an agent confirming its activation may reach another process than
 * the one that activated it, which then relays that session to it. Without peers (one process) none
 * of this happens.
 */
export interface ListenerPeers {
  /** Listener processes sharing the port, this one included: each allows its share of the per-source connection cap. */
  readonly listeners: number
  /** The TLS session ticket keys every listener of the node uses, so a ticket from one resumes on another. */
  readonly ticketKeys: Buffer
  /** Wire the listener once made: its failure counts go out and come in; confirmations relayed to it arrive. */
  attach(listener: {readonly limiter: FailureLimiter; confirmFromElsewhere(sha256: string, session: CommandSession): boolean}): void
  /** This listener awaits (or no longer awaits) the confirmation of the certificate `sha256`. */
  awaiting(sha256: string, waiting: boolean): void
  /** A confirmation another listener awaits: relay this session to it. False when none awaits it. */
  handOff(sha256: string, session: HttpSession): Promise<boolean>
}
