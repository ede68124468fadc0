import {execFileSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import pg from 'pg'
import {afterAll, beforeAll} from 'vitest'

/**
 * A private PostgreSQL server per test file: initdb into a temporary directory, listening on a free
 * port of 127.0.0.1 (its socket inside that directory), stopped and removed when the file ends.
 * Nothing depends on a server the machine happens to run; each file that calls usePostgres() gets
 * its own. Root (CI) runs the server as the postgres user, since initdb refuses root.
 */

const USER = 'tether'

/** Debian's binaries: the newest /usr/lib/postgresql/<version>/bin that has initdb. */
function binaries(): string {
  const root = '/usr/lib/postgresql'
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : []
  if (versions.length === 0) throw new Error(`PostgreSQL is not installed (no ${root}/*/bin/initdb); install Debian's postgresql package (.ci/run does)`)
  return path.join(root, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin')
}

const asRoot = process.getuid?.() === 0

/** The command line for a server program: as the postgres user when we are root. */
function command(bin: string, program: string, args: string[]): [string, string[]] {
  const file = path.join(bin, program)
  return asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args]
}

/** A port no one listens on now: bound to 0, then closed (the server binds it moments later). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface PostgresServer {
  port: number
  user: string
  password: string
  /** The URL of `database` on this server, with the password. */
  url(database: string): string
  /**
   * A new empty database; its URL. Its default collation is ICU's en-US, not byte order (as a
   * production database's usually is), so a test sees where the store relies on its own collation.
   */
  createDatabase(): Promise<string>
  /** How long initdb and the start took. */
  startupMs: number
  /** Stop the server, keeping its data, as an outage would; `resume` starts it again on the same port. */
  pause(): Promise<void>
  resume(): Promise<void>
  stop(): Promise<void>
}

export async function startPostgres(): Promise<PostgresServer> {
  const started = Date.now()
  const bin = binaries()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-pg-'))
  const data = path.join(dir, 'data')
  const password = crypto.randomBytes(12).toString('hex')
  const passwordFile = path.join(dir, 'password')
  fs.writeFileSync(passwordFile, password, {mode: 0o600})
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres'], {encoding: 'utf8'}).trim()))
    fs.chownSync(dir, uid, gid)
    fs.chownSync(passwordFile, uid, gid)
  }

  const exec = (program: string, args: string[]) => execa(...command(bin, program, args))
  const stopNow = (mode: string) => execFileSync(...command(bin, 'pg_ctl', ['stop', '-D', data, '-m', mode, '-w']), {stdio: 'ignore'})
  // Should the worker exit without afterAll (a crash), the server still goes.
  const onExit = () => {
    try {
      stopNow('immediate')
    } catch {}
    fs.rmSync(dir, {recursive: true, force: true})
  }

  try {
    await exec('initdb', ['-D', data, '-U', USER, `--pwfile=${passwordFile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-sync'])
    fs.rmSync(passwordFile)
    // Throwaway data: durability off, small memory, nothing but loopback and a socket in dir.
    fs.appendFileSync(path.join(data, 'postgresql.conf'), [
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'shared_buffers = 16MB',
      'autovacuum = off',
      '',
    ].join('\n'))
    process.once('exit', onExit)
    let port = 0
    // The port is free when picked; another process may take it before the server binds it, so try again.
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      const result = await execa(...command(bin, 'pg_ctl', ['start', '-w', '-t', '30', '-D', data, '-l', path.join(dir, 'server.log'), '-o', `-p ${port}`]), {reject: false})
      if (result.exitCode === 0) break
      if (attempt === 3) throw new Error(`PostgreSQL did not start: ${result.stderr}\n${fs.readFileSync(path.join(dir, 'server.log'), 'utf8')}`)
    }

    const url = (database: string) => `postgres://${USER}:${password}@127.0.0.1:${port}/${database}`
    let databases = 0
    return {
      port,
      user: USER,
      password,
      url,
      startupMs: Date.now() - started,
      async createDatabase() {
        const name = `store_${++databases}`
        const client = new pg.Client({connectionString: url('postgres')})
        await client.connect()
        try {
          await client.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`)
        } finally {
          await client.end()
        }

        return url(name)
      },
      async pause() {
        stopNow('fast')
      },
      async resume() {
        const result = await execa(...command(bin, 'pg_ctl', ['start', '-w', '-t', '30', '-D', data, '-l', path.join(dir, 'server.log'), '-o', `-p ${port}`]), {reject: false})
        if (result.exitCode !== 0) throw new Error(`PostgreSQL did not start again: ${result.stderr}`)
      },
      async stop() {
        process.removeListener('exit', onExit)
        try {
          stopNow('fast')
        } finally {
          fs.rmSync(dir, {recursive: true, force: true})
        }
      },
    }
  } catch (error) {
    process.removeListener('exit', onExit)
    onExit()
    throw error
  }
}

/** A server for this test file: started before its tests, stopped after them. */
export function usePostgres(): () => PostgresServer {
  let server: PostgresServer | undefined
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.stop()
  })
  return () => {
    if (!server) throw new Error('the PostgreSQL server is not started yet: call it inside a test or hook')
    return server
  }
}
