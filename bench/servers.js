// The server processes of the heartbeat benchmarks: `tether manager start` (its own process, as in
// production) and the node-tls reference (bench/node-tls-server.js). Each handle has
// {host, port, pid, pids(), stop(), kill()}; pids() is the whole process tree, so worker processes
// count in the CPU per heartbeat.
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {onJsonLines} from './lib.js'
import {childHandle, processTree} from './processes.js'

/** True when `tether manager start --help` lists a --workers flag (several listener processes or threads). */
export function managerSupportsWorkers(root) {
  const help = spawnSync(process.execPath, [path.join(root, 'bin', 'run.js'), 'manager', 'start', '--help'], {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})
  return help.status === 0 && /--workers\b/.test(help.stdout)
}

/**
 * `tether manager start` on `home`, port 0 on 127.0.0.1, resolved once it prints its listening line.
 * `profileDir`: run it under `node --cpu-prof` (a V8 CPU profile written there when it exits).
 */
export async function startManager(root, home, {workers, profileDir} = {}) {
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] : []
  const args = [...profile, path.join(root, 'bin', 'run.js'), 'manager', 'start', '--home', home, '--port', '0', '--host', '127.0.0.1', '--json', ...(workers ? ['--workers', String(workers)] : [])]
  const child = spawn(process.execPath, args, {stdio: ['ignore', 'pipe', 'pipe']})
  return readyServer(child, 'tether manager start', (message) => message.event === 'listening')
}

/** The node-tls reference server with the manager's chain, key, CA and CRL and the TLS policy. */
export async function startNodeTls(root, dir, {home, crlFile, tls}) {
  fs.mkdirSync(dir, {recursive: true})
  const chain = path.join(dir, 'chain.pem')
  fs.writeFileSync(chain, `${fs.readFileSync(home.file('managerCert'), 'utf8')}${fs.readFileSync(home.file('caCert'), 'utf8')}`)
  const config = path.join(dir, 'config.json')
  fs.writeFileSync(config, JSON.stringify({chain, key: home.file('managerKey'), ca: home.file('caCert'), crl: crlFile, tls}))
  const child = spawn(process.execPath, [path.join(root, 'bench', 'node-tls-server.js'), config], {stdio: ['pipe', 'pipe', 'pipe']})
  return readyServer(child, 'node-tls-server', (message) => message.listening === true)
}

async function readyServer(child, what, isReady) {
  const handle = childHandle(child)
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  try {
    const ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} did not report listening within 60 s`)), 60_000)
      onJsonLines(child.stdout, (message) => {
        if (isReady(message)) {
          clearTimeout(timer)
          resolve(message)
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`${what} exited (${signal ?? code}) before listening: ${stderr.trim()}`))
      })
    })
    if (ready.host !== '127.0.0.1') throw new Error(`${what} listens on ${ready.host}, not 127.0.0.1`)
    const pid = ready.pid ?? child.pid
    const alive = () => child.exitCode === null && child.signalCode === null
    return {...handle, host: ready.host, port: ready.port, pid, pids: () => (alive() ? processTree(pid) : []), stderr: () => stderr}
  } catch (error) {
    await handle.stop()
    throw error
  }
}
