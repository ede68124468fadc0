import type net from 'node:net'

import {TetherError} from '../errors.js'

/**
 * HTTP CONNECT proxies (RFC 9110 §9.3.6) for agent-to-manager connections: `dsa_control -x
 * dsm_proxy://HOST:PORT/` and `-u USER:PASSWORD` (Basic). The TLS session runs inside the tunnel,
 * end to end with the manager; the proxy sees only the target address.
 */

export interface ProxyTarget {
  host: string
  port: number
  /** Basic credentials; never logged. */
  auth?: {user: string; password: string}
}

// node:net loads when a proxy is used, not with every command that reads the proxy settings (agent status, dsa_query).
const lazyNet = () => process.getBuiltinModule('node:net')

/** How the target appears in the request line: IPv6 in brackets. */
function authority(host: string, port: number): string {
  return `${lazyNet().isIPv6(host) ? `[${host}]` : host}:${port}`
}

const MAX_RESPONSE_HEAD = 16 * 1024

/** Open a tunnel to host:port through the proxy; the socket is ready for TLS when it resolves. */
export async function connectThroughProxy(proxy: ProxyTarget, host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const via = authority(proxy.host, proxy.port)
  const target = authority(host, port)
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = lazyNet().connect({host: proxy.host, port: proxy.port})
    socket.setNoDelay(true)
    let head = Buffer.alloc(0)
    const fail = (error: TetherError) => {
      clearTimeout(timer)
      socket.destroy()
      reject(error)
    }

    const timer = setTimeout(() => fail(new TetherError('unreachable', 'proxy-timeout', `the proxy ${via} did not open a tunnel to ${target} within ${timeoutMs} ms`, {hint: 'check the proxy address (dsa_control -x)'})), timeoutMs)
    socket.once('connect', () => {
      const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`]
      if (proxy.auth) lines.push(`Proxy-Authorization: Basic ${Buffer.from(`${proxy.auth.user}:${proxy.auth.password}`, 'utf8').toString('base64')}`)
      socket.write(`${lines.join('\r\n')}\r\n\r\n`)
    })
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) {
        if (head.length > MAX_RESPONSE_HEAD) fail(new TetherError('unreachable', 'proxy-bad-response', `the proxy ${via} sent no complete HTTP response`))
        return
      }

      socket.off('data', onData)
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1')
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1])
      if (status !== 200) {
        // 407 asks for credentials; some proxies (tinyproxy) answer wrong ones with 401.
        const auth = status === 407 || status === 401
        fail(new TetherError(auth ? 'trust' : 'unreachable', auth ? 'proxy-auth-required' : 'proxy-refused', `the proxy ${via} refused the tunnel to ${target}: ${statusLine.trim() || 'no status line'}`, {
          hint: auth ? (proxy.auth ? 'the proxy credentials are wrong: set them with dsa_control -u USER:PASSWORD' : 'the proxy wants credentials: dsa_control -u USER:PASSWORD') : 'check that the proxy allows CONNECT to the manager port',
          // As the classic status line shows it: bad credentials 401, any other refusal a bad gateway.
          details: {proxyStatus: status || null, httpStatus: auth ? 401 : 502},
        }))
        return
      }

      clearTimeout(timer)
      // Bytes after the response head already belong to the tunnel.
      const rest = head.subarray(end + 4)
      if (rest.length > 0) socket.unshift(rest)
      socket.off('error', onError)
      resolve(socket)
    }

    const onError = (error: NodeJS.ErrnoException) => fail(new TetherError('unreachable', 'proxy-unreachable', `cannot reach the proxy ${via} (${error.code ?? error.message})`, {hint: 'check the proxy address (dsa_control -x), or remove it with dsa_control -x ""', cause: error}))
    socket.on('data', onData)
    socket.on('error', onError)
  })
}

/** `dsm_proxy://HOST:PORT/` (IPv6 in brackets; scheme as given). */
export function parseProxyUrl(url: string, scheme: 'dsm_proxy' | 'relay_proxy'): {host: string; port: number; url: string} {
  const match = new RegExp(`^${scheme}://(\\[[^\\]]+\\]|[^/:\\s\\[\\]]+):(\\d{1,5})/?$`, 'i').exec(url.trim())
  const port = Number(match?.[2])
  if (!match || port < 1 || port > 65_535) {
    throw new TetherError('usage', 'bad-proxy-url', `"${url}" is not a proxy URL`, {hint: `write it as ${scheme}://HOST:PORT/ (IPv6 in brackets: ${scheme}://[::1]:3128/), or "" to remove it`})
  }

  const host = match[1].replace(/^\[|\]$/g, '')
  return {host, port, url: `${scheme}://${authority(host, port)}/`}
}

/** `USER:PASSWORD` (the password may contain colons). */
export function parseProxyAuth(text: string): {user: string; password: string} {
  const colon = text.indexOf(':')
  if (colon <= 0) throw new TetherError('usage', 'bad-proxy-auth', 'the proxy credentials must be USER:PASSWORD', {hint: 'e.g. dsa_control -u proxyuser:secret, or "" to clear them'})
  return {user: text.slice(0, colon), password: text.slice(colon + 1)}
}
