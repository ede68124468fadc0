import type net from 'node:net'

import {TetherError} from '../errors.js'

/** Listen, turning "address in use" and friends into an error that says what to do. */
export async function listenOn(server: net.Server, port: number, host: string): Promise<{host: string; port: number}> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new TetherError('usage', 'listen-failed', `cannot listen on ${host}:${port} (${error.code ?? error.message})`, {
        hint: error.code === 'EADDRINUSE' ? 'another process holds that port: stop it or choose --port' : 'choose another --host or --port',
      }))
    })
    server.listen(port, host, resolve)
  })
  const bound = server.address() as net.AddressInfo
  return {host: bound.address, port: bound.port}
}
