import {Command, Errors, Interfaces, ux} from '@oclif/core'

import {DsaCore} from '../agent/store.js'
import type {ManagerContext, StoreContext} from '../manager/context.js'
import {ManagerHome} from '../manager/home.js'
import type {ManagerStore} from '../manager/store/store.js'
import {silentLogger} from '../platform/log.js'
import {resolveDsaCore, resolveManagerHome} from '../platform/paths.js'
import type {CommandOutput} from './command-output.js'
import {ChunkedOutput} from './chunked-output.js'
import {renderFailure, toTetherError} from './errors.js'
import {dsaCoreFlag, homeFlag} from './flags.js'
import {paint} from './render.js'

/**
 * Every tether command: `--json` prints one document (the value `run` returns, or `{error}` on
 * failure), and every failure exits with the code of its class, the same as dsm_c and dsa_control.
 */
export abstract class TetherCommand extends Command {
  static enableJsonFlag = true

  /**
   * Positional arguments never come from standard input: oclif would read piped stdin into a
   * missing argument (`manager activate --from -` lost its input to TARGET; a pipe silently became
   * the COMPUTER of `computers show`). Commands that read stdin say so with `-`.
   */
  async init(): Promise<void> {
    for (const arg of Object.values((this.ctor as typeof Command).args ?? {})) arg.ignoreStdin = true
    await super.init()
  }

  protected async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    const exitCode = renderFailure(toTetherError(error, this.id), {json: this.jsonEnabled()})
    process.exitCode = exitCode
    if (this.jsonEnabled()) return undefined
    return this.exit(exitCode)
  }

  /** Where a command shared with the classic tools' direct path prints (src/cli/agent/). */
  protected get output(): CommandOutput {
    return {log: (line) => this.log(line), logToStderr: (line) => this.logToStderr(line), json: this.jsonEnabled()}
  }

  /** Settings that leave the installation open: one `Warning:` line each on stderr (in JSON, the caller's `warnings`). */
  protected warnAbout(warnings: Array<{message: string; hint: string}>): void {
    for (const warning of warnings) this.logToStderr(`${paint.stderr.yellow('Warning:')} ${warning.message}; ${warning.hint}`)
  }

  /** One JSON document on one line of stdout: a daemon's ready line, or one of a stream of results. */
  protected jsonLine(value: unknown): void {
    ux.stdout(JSON.stringify(value))
  }

  /** Lines written in chunks as they come, in text and --json alike (a listing too large to hold at once). */
  protected chunkedOutput(): ChunkedOutput {
    return new ChunkedOutput(writeStdout)
  }

  /** Parse the flags every command of a kind shares (the subclass's own are parsed by `run`). */
  protected async sharedFlags<F extends Interfaces.FlagInput>(flags: F): Promise<Interfaces.InferredFlags<F>> {
    const ctor = this.ctor as typeof Command
    const parsed = await this.parse({flags: {...ctor.flags, ...flags}, args: ctor.args, strict: ctor.strict, enableJsonFlag: ctor.enableJsonFlag})
    return parsed.flags as Interfaces.InferredFlags<F>
  }
}

/**
 * A command about the manager: owns --home, and opens the home's store (or store and credentials)
 * only when the command asks for it, closing it when the command ends.
 */
export abstract class ManagerCommand extends TetherCommand {
  static baseFlags = {home: homeFlag}

  private homeDir?: string
  private opened?: {store: ManagerStore; context?: ManagerContext}

  async init(): Promise<void> {
    await super.init()
    this.homeDir = resolveManagerHome((await this.sharedFlags(ManagerCommand.baseFlags)).home)
  }

  protected get home(): ManagerHome {
    return new ManagerHome(this.homeDir ?? resolveManagerHome(undefined))
  }

  /** The registry alone (settings, computers, events): no private key is loaded. */
  protected async store(): Promise<ManagerStore> {
    this.opened ??= {store: await this.home.openStore()}
    return this.opened.store
  }

  /** The store and the clock, for changes that need no private key. */
  protected async storeContext(): Promise<StoreContext> {
    return {store: await this.store(), now: () => new Date()}
  }

  /** Credentials and store, for commands that sign, issue or connect. */
  protected async manager(): Promise<ManagerContext> {
    if (this.opened?.context) return this.opened.context
    const store = await this.store()
    const credentials = await this.home.credentials(store)
    this.opened!.context = {credentials, store, node: this.home.nodeName(), now: () => new Date(), log: silentLogger}
    return this.opened!.context
  }

  async finally(error: Error | undefined): Promise<unknown> {
    const opened = this.opened
    this.opened = undefined
    await opened?.store.close()
    return super.finally(error)
  }
}

/** A command about the agent: owns --dsa-core. */
export abstract class AgentCommand extends TetherCommand {
  static baseFlags = {'dsa-core': dsaCoreFlag}

  private dsaCoreDir?: string

  async init(): Promise<void> {
    await super.init()
    this.dsaCoreDir = resolveDsaCore((await this.sharedFlags(AgentCommand.baseFlags))['dsa-core'])
  }

  /** The agent's dsa_core directory, as --dsa-core, $TETHER_DSA_CORE or the platform path name it. */
  protected get dsaCore(): DsaCore {
    return new DsaCore(this.dsaCoreDir ?? resolveDsaCore(undefined))
  }
}

/**
 * Bytes to stdout, with console.log's indifference to a reader that went away (`| head`): a write
 * error is swallowed, not thrown or left to crash the process as an unhandled 'error' event.
 */
function writeStdout(bytes: Buffer): void {
  const {stdout} = process
  const swallow = () => {
    if (stdout.listenerCount('error') === 0) stdout.once('error', () => {})
  }

  try {
    if (stdout.listenerCount('error') === 0) stdout.once('error', ignore)
    stdout.write(bytes, (error) => error && swallow())
  } catch {
    // The reader is gone (a synchronous EPIPE on a file or TTY): nothing more can be shown.
  } finally {
    stdout.removeListener('error', ignore)
  }
}

function ignore(): void {}
