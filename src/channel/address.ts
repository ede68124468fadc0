import net from 'node:net'

import {TetherError} from '../errors.js'

/**
 * HOST[:PORT], [IPv6]:PORT or a bare IPv6 address. Apart from connect.ts so that a command that only
 * names an address (dsa_query's target) does not load node:tls at start-up.
 */
export function parseHostPort(target: string, defaultPort: number): {host: string; port: number} {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(target)
  const [host, portText] = bracketed ? [bracketed[1], bracketed[2]] : target.includes(':') && net.isIPv6(target) ? [target, undefined] : target.split(':') as [string, string | undefined]
  const port = portText === undefined ? defaultPort : Number(portText)
  if (!host || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new TetherError('usage', 'bad-address', `"${target}" is not HOST[:PORT]`, {hint: 'e.g. 127.0.0.1:4118 or agent1.example.internal'})
  }

  return {host, port}
}
