import type tls from 'node:tls'

import type {CommandSession, HttpSession} from '../channel/http-session.js'
import type {HandshakeEntry} from '../channel/journal.js'
import {TetherError, isTetherError} from '../errors.js'
import {fingerprint} from '../pki/certificate.js'
import type {ActivationReport, HostInfo} from '../protocol/messages.js'
import {ActivationRequest, completeActivation, duplicatePlan} from './activation.js'
import {checkClockSkew} from './clock.js'
import type {ManagerContext} from './context.js'
import {isEnrolmentToken, parseEnrolmentToken} from '../protocol/enrolment-token.js'
import {sameSecret, useToken} from './enrolment.js'
import {tokenRequired} from './posture.js'
import type {FailureLimiter} from './rate-limit.js'
import {deliverPolicyNow, groupPath, requestedPolicy} from './operator-words.js'
import {heartbeatCommunication} from './heartbeat-addresses.js'
import {getSettings} from './settings.js'
import type {EnrolmentToken} from './store/store.js'

/**
 * The manager's half of `dsa_control -a`, on a connection the agent opened with the bootstrap
 * certificate: check the request against the settings (on, tenant, token, clock, name), then
 * activate it exactly as manager-initiated activation does, and tell the agent the verdict.
 */

type JournalFields = Pick<HandshakeEntry, 'context' | 'result' | 'reason'> & Partial<HandshakeEntry>

export interface ActivationRequestContext {
  session: HttpSession
  socket: tls.TLSSocket
  limiter: FailureLimiter
  journal(entry: JournalFields): void
  /** The mutual-TLS connection the agent opens with its new certificate to confirm. */
  awaitConfirmation(sha256: string): Promise<CommandSession>
}

/** The classic status a refusal is told as (dsa_control prints it as `HTTP Status: N`). */
export function activationStatus(error: TetherError): number {
  if (error.code === 'rate-limited') return 429
  if (error.code === 'duplicate-name') return 409
  if (/^(bad-)?token/.test(error.code)) return 401
  if (error.failure === 'usage') return 400
  if (error.failure === 'internal') return 500
  return 403
}

/** Wrong credentials (what guessing looks like): these count toward the source's limit. */
const CREDENTIAL_FAILURES = /^(bad-token|token-|tenant-mismatch)/

export async function serveActivationRequest(ctx: ManagerContext, request: ActivationRequestContext): Promise<void> {
  const {session, socket, limiter} = request
  const source = socket.remoteAddress ?? 'unknown'
  let hostInfo: HostInfo
  try {
    hostInfo = await session.command('GetHostInfo')
  } catch {
    session.close()
    return
  }

  const report = async (verdict: ActivationReport, on: CommandSession = session) => {
    try {
      await on.command('ReportActivationResult', verdict)
    } finally {
      on.close()
    }
  }

  const refuse = async (failure: TetherError) => {
    request.journal({context: 'bootstrap', result: 'refused', reason: failure.code, detail: failure.message})
    await report({status: activationStatus(failure), reason: failure.code, message: failure.message, hint: failure.hint}).catch(() => undefined)
  }

  const allowed = limiter.check(source, ctx.now().getTime())
  if (!allowed.allowed) {
    // Refused without looking at the credentials: a guess during the cooldown learns nothing.
    await refuse(new TetherError('refused', 'rate-limited', `too many failed activation attempts ${allowed.scope === 'source' ? `from ${source}` : 'on this manager'} in the last minute`, {
      hint: `retry in ${Math.ceil(allowed.retryAfterMs / 1000)} s; if many agents share this address (a proxy or NAT), raise activationFailureLimit`,
    }))
    return
  }

  let plan: ActivationPlan
  try {
    plan = await planAgentInitiated(ctx, hostInfo)
  } catch (error) {
    const failure = isTetherError(error) ? error : new TetherError('internal', 'internal', (error as Error).message)
    if (CREDENTIAL_FAILURES.test(failure.code)) limiter.fail(source, ctx.now().getTime())
    await refuse(failure)
    return
  }

  let confirmation: CommandSession | undefined
  try {
    const computer = await completeActivation(ctx, {
      session,
      // What this listener presented in the handshake (the agent installs exactly that one).
      managerCertPem: socket.getX509Certificate()?.toString() ?? ctx.credentials.managerCertPem,
      confirm: async (expectedSha256) => {
        confirmation = await request.awaitConfirmation(expectedSha256)
        return confirmation.command('GetAgentStatus')
      },
    }, hostInfo, plan.request)
    // The assigned policy goes over the confirming session, before the verdict (classic transcript).
    const delivery = computer.policy && confirmation ? await deliverPolicyNow(ctx, confirmation, computer) : undefined
    const warnings = [...plan.warnings, ...(delivery ? [delivery] : [])]
    await report({status: 200, reason: 'OK', message: `activated as computer ${computer.id}`, computer: {id: computer.id, guid: computer.guid, hostname: computer.hostname}, ...(warnings.length > 0 ? {warnings} : {})}, confirmation)
  } catch (error) {
    const failure = isTetherError(error) ? error : new TetherError('internal', 'internal', (error as Error).message)
    // The token's use is given back: the activation it was counted for did not happen.
    if (plan.token) await ctx.store.tokens.unuse(plan.token.id).catch(() => undefined)
    if (!confirmation) {
      await refuse(failure)
      return
    }

    request.journal({context: 'bootstrap', result: 'failed', reason: failure.code, detail: failure.message})
    await report({status: activationStatus(failure), reason: failure.code, message: failure.message, hint: failure.hint}, confirmation).catch(() => undefined)
    session.close()
  }
}

interface ActivationPlan {
  request: ActivationRequest
  /** The enrolment token this activation used (given back if it does not complete). */
  token?: EnrolmentToken
  /** What was asked but not applied (a policy not found), told to the agent. */
  warnings: string[]
}

/**
 * Decide an agent-initiated activation from the settings: enabled, tenant, token, clock skew,
 * hostname, duplicates. Throws the refusal the agent is told.
 */
export async function planAgentInitiated(ctx: ManagerContext, hostInfo: HostInfo): Promise<ActivationPlan> {
  const {store} = ctx
  const settings = await getSettings(store)
  const args = hostInfo.activationRequest ?? {}
  if (settings.agentInitiatedActivation === 'off') {
    throw new TetherError('refused', 'agent-initiated-activation-off', 'agent-initiated activation is turned off on this manager', {
      hint: 'activate the agent from the manager (tether manager activate), or enable it: dsm_c -action changesetting -name settings.configuration.agentInitiatedActivation -value 1',
    })
  }

  const {tenantId} = await store.meta.identity()
  if (args.tenantID !== undefined && !sameSecret(args.tenantID.toUpperCase(), tenantId)) {
    throw new TetherError('refused', 'tenant-mismatch', `tenantID ${args.tenantID} is not this manager's tenant`, {
      hint: 'use the tenant ID `tether manager show` prints on the manager you mean',
    })
  }

  const token = await checkToken(ctx, args.token, settings)
  try {
    checkClockSkew(hostInfo.clock, ctx.now(), settings.maxClockSkewSeconds * 1000)
    const hostname = settings.allowAgentHostname && args.hostname ? args.hostname : hostInfo.hostname
    if (settings.agentInitiatedActivation === 'known' && (await store.computers.byHostname(hostname)).length === 0) {
      throw new TetherError('refused', 'unknown-computer', `no computer named ${hostname} is known to this manager, and agent-initiated activation is limited to known computers`, {
        hint: 'add the computer first (activate it once from the manager), or allow any computer: agentInitiatedActivation any',
      })
    }

    // What the token says wins over the words on the command line.
    const {policy, warning} = token?.policy ? {policy: undefined, warning: undefined} : await requestedPolicy(store, args)
    const mode = settings.communicationMode
    return {
      token,
      warnings: warning ? [warning] : [],
      request: {
        ...(await duplicatePlan(ctx, hostname)),
        hostname,
        displayName: args.displayname,
        description: args.description,
        group: groupPath(token?.group ?? args.group),
        policy: token?.policy ?? policy?.name,
        mode,
        communication: {mode, heartbeatSeconds: settings.heartbeatIntervalSeconds, ...(await otherAddresses(ctx, settings.loadBalancerHeartbeatHostname !== ''))},
      },
    }
  } catch (error) {
    if (token) await store.tokens.unuse(token.id)
    throw error
  }
}

/** The token the request carries: an enrolment token (counted once), or the classic shared secret. */
async function checkToken(ctx: ManagerContext, given: string | undefined, settings: Awaited<ReturnType<typeof getSettings>>): Promise<EnrolmentToken | undefined> {
  if (given !== undefined && isEnrolmentToken(given)) return useToken(ctx, parseEnrolmentToken(given), ctx.credentials.trustedCas.map((ca) => fingerprint(ca)))
  if (!tokenRequired(settings, await ctx.store.tokens.live(ctx.now()))) return undefined
  if (given === undefined) {
    throw new TetherError('refused', 'token-required', 'this manager requires an activation token', {hint: 'pass token:TOKEN (an enrolment token from `tether manager tokens create`, or the activationToken secret)'})
  }

  if (settings.activationToken === '' || !sameSecret(given, settings.activationToken)) {
    throw new TetherError('refused', 'bad-token', 'the activation token is wrong', {hint: 'pass token:TOKEN with a token this manager issued, or its activationToken'})
  }

  return undefined
}

/**
 * No managerAddress unless a load balancer is set: the agent keeps the address it dialled, known
 * to work; with several nodes it is told the others to fail over to. A load balancer is where
 * every agent goes.
 */
async function otherAddresses(ctx: ManagerContext, balanced: boolean): Promise<{managerAddress?: string; managerAddresses?: string[]}> {
  const {managerAddress, managerAddresses} = await heartbeatCommunication(ctx)
  return {...(balanced && managerAddress ? {managerAddress} : {}), ...(managerAddresses ? {managerAddresses} : {})}
}
