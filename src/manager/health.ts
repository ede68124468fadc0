import http from 'node:http'

import {listenOn} from '../channel/listen.js'
import {errorFields} from '../platform/log.js'
import type {ManagerStore} from './store/store.js'

/**
 * `tether manager start --health-port`: `GET /healthz` answers 200 when this node can reach its
 * store and its heartbeat listener is up, else 503, so a load balancer in front of the heartbeat
 * ports takes a sick node out (and puts it back when it recovers). Plain HTTP on loopback by
 * default: it says nothing but up or down.
 */

/** A store that does not answer within this is as good as unreachable. */
const STORE_TIMEOUT_MS = 2000

export interface HealthChecks {
  store: ManagerStore
  listening(): boolean
  node?: string
}

export async function checkHealth(checks: HealthChecks): Promise<{ok: boolean; store: string; listener: string; node?: string}> {
  let timer: NodeJS.Timeout | undefined
  const store = await Promise.race([
    checks.store.meta.get('manager_guid').then(() => 'ok'),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer within ${STORE_TIMEOUT_MS} ms`), STORE_TIMEOUT_MS)
    }),
  ]).catch((error: unknown) => errorFields(error).reason).finally(() => clearTimeout(timer))
  const listener = checks.listening() ? 'ok' : 'down'
  return {ok: store === 'ok' && listener === 'ok', store, listener, ...(checks.node ? {node: checks.node} : {})}
}

export class HealthEndpoint {
  private constructor(private readonly server: http.Server) {}

  static async start(port: number, host: string, checks: HealthChecks): Promise<{endpoint: HealthEndpoint; host: string; port: number}> {
    const server = http.createServer((req, res) => void answer(req, res, checks))
    // Requests are one line each way: a slow client is not kept.
    server.requestTimeout = 5000
    server.headersTimeout = 5000
    const bound = await listenOn(server, port, host)
    return {endpoint: new HealthEndpoint(server), ...bound}
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }
}

async function answer(req: http.IncomingMessage, res: http.ServerResponse, checks: HealthChecks): Promise<void> {
  const path = (req.url ?? '').split('?')[0]
  if (path !== '/healthz') return reply(res, 404, {error: 'not found: the health endpoint is GET /healthz'})
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, {error: 'GET /healthz'})
  const health = await checkHealth(checks)
  reply(res, health.ok ? 200 : 503, {status: health.ok ? 'ok' : 'unavailable', store: health.store, listener: health.listener, ...(health.node ? {node: health.node} : {})})
}

function reply(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = `${JSON.stringify(body)}\n`
  res.writeHead(status, {'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}
