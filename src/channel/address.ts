import {TetherError} from '../errors.js'

/**
 * HOST[:PORT], [IPv6]:PORT or a bare IPv6 address. Apart from connect.ts so that a command that only
 * names an address (dsa_query's target) does not load node:tls at start-up.
 */
export function parseHostPort(target: string, defaultPort: number): {host: string; port: number} {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(target)
  const [host, portText] = bracketed ? [bracketed[1], bracketed[2]] : bareIPv6(target) ? [target, undefined] : target.split(':') as [string, string | undefined]
  const port = portText === undefined ? defaultPort : Number(portText)
  if (!host || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new TetherError('usage', 'bad-address', `"${target}" is not HOST[:PORT]`, {hint: 'e.g. 127.0.0.1:4118 or agent1.example.internal'})
  }

  return {host, port}
}

/**
 * An IPv6 address has at least two colons, so HOST:PORT (one) is not asked: net.isIPv6 compiles
 * its large pattern on first use, about 4 ms of a dsa_query cold start, for an answer known here
 * (and node:net loads only then).
 */
function bareIPv6(target: string): boolean {
  return target.indexOf(':') !== target.lastIndexOf(':') && process.getBuiltinModule('node:net').isIPv6(target)
}
