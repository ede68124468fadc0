import fs from 'node:fs'
import path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {generateRsaKeyPair} from '../src/pki/keys.js'
import {issueCertificate} from '../src/pki/x509.js'
import {isLockFile} from '../src/platform/lock.js'
import {initManager, json, openssl, run, snapshot, tempDir, tether} from './helpers.js'

describe('exporting the manager certificate', () => {
  let home: string
  let env: Record<string, string>
  beforeAll(async () => {
    ;({home, env} = await initManager(tempDir()))
  })

  it('tether and dsm_c write the same PEM, the manager certificate itself', async () => {
    const a = tempDir()
    const b = tempDir()
    const viaTether = await tether(['manager', 'export-cert', '--output', path.join(a, 'ds_agent_dsm.crt')], env)
    expect(viaTether.exitCode).toBe(0)
    const viaDsmC = await run('dsm_c', ['-action', 'exportdsmcert', '-output', 'ds_agent_dsm.crt'], env, {cwd: b})
    expect(viaDsmC.exitCode).toBe(0)
    const exported = fs.readFileSync(path.join(b, 'ds_agent_dsm.crt'), 'utf8')
    expect(exported).toBe(fs.readFileSync(path.join(a, 'ds_agent_dsm.crt'), 'utf8'))
    expect(exported).toBe(fs.readFileSync(path.join(home, 'manager.crt'), 'utf8'))
    expect(exported).not.toContain('PRIVATE KEY')
    const verify = await openssl(['verify', '-CAfile', path.join(home, 'ca.crt'), path.join(b, 'ds_agent_dsm.crt')])
    expect(verify.exitCode).toBe(0)
  })

  it('dsm_c -action exportdsmcert (and tether manager export-cert) load neither oclif nor node-forge, and print what the command prints through oclif', async () => {
    // Preloaded into both processes: at exit, how many oclif and forge modules were loaded (last line of stderr).
    const probe = path.join(tempDir(), 'heavy-modules.cjs')
    fs.writeFileSync(probe, "process.on('exit', () => process.stderr.write(`heavy=${Object.keys(require.cache).filter((f) => /@oclif[\\\\/]core|node-forge/.test(f)).length}\\n`))\n")
    const probed = {...env, NODE_OPTIONS: `--require ${probe}`}
    const dir = tempDir()
    const cases = [
      [['-output', path.join(dir, 'ds_agent_dsm.crt')], ['--output', path.join(dir, 'ds_agent_dsm.crt')]],
      [['-output', `${dir}/`, '--json'], ['--output', `${dir}/`, '--json']],
      [['-output', path.join(dir, 'wrong.crt')], ['--output', path.join(dir, 'wrong.crt')]],
      [['-output', path.join(dir, 'missing', 'ds_agent_dsm.crt')], ['--output', path.join(dir, 'missing', 'ds_agent_dsm.crt')]],
      [['-output', path.join(dir, 'ds_agent_dsm.crt'), '-home', path.join(dir, 'no-home'), '--json'], ['--output', path.join(dir, 'ds_agent_dsm.crt'), '--home', path.join(dir, 'no-home'), '--json']],
    ]
    for (const [classic, modern] of cases) {
      const viaDsmC = await run('dsm_c', ['-action', 'exportdsmcert', ...classic], probed)
      // tether takes the direct path too; test/fixtures/oclif-route.mjs runs the command through oclif.
      const viaTether = await tether(['manager', 'export-cert', ...modern], probed)
      const viaOclif = await run('oclif', ['manager', 'export-cert', ...modern], probed)
      expect(viaDsmC.stderr, classic.join(' ')).toMatch(/heavy=0$/)
      expect(viaTether.stderr, modern.join(' ')).toMatch(/heavy=0$/)
      expect(viaOclif.stderr).toMatch(/heavy=[1-9]\d*$/)
      const strip = (result: typeof viaDsmC) => ({exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr.replace(/\n?heavy=\d+$/, '')})
      expect(strip(viaDsmC)).toEqual(strip(viaOclif))
      expect(strip(viaTether)).toEqual(strip(viaOclif))
    }
  })

  it('dsm_c option names are case-insensitive', async () => {
    const dir = tempDir()
    const result = await run('dsm_c', ['-Action', 'exportdsmcert', '-OUTPUT', path.join(dir, 'ds_agent_dsm.crt')], env)
    expect(result.exitCode).toBe(0)
    expect(fs.existsSync(path.join(dir, 'ds_agent_dsm.crt'))).toBe(true)
  })

  it('refuses any other file name and writes nothing', async () => {
    const dir = tempDir()
    for (const result of [
      await tether(['manager', 'export-cert', '--output', path.join(dir, 'manager.pem')], env),
      await run('dsm_c', ['-action', 'exportdsmcert', '-output', path.join(dir, 'ds_agent_dsm.crt.bak')], env),
    ]) {
      expect(result.exitCode).toBe(2)
      expect(result.stderr).toMatch(/must be named exactly ds_agent_dsm.crt/)
    }

    expect(fs.readdirSync(dir)).toEqual([])
  })

  it('an unknown or missing -action lists the supported actions', async () => {
    const unknown = await run('dsm_c', ['-action', 'exportcert'], env)
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr).toContain('unknown action "exportcert"; supported actions: exportdsmcert')
    const missing = await run('dsm_c', ['-output', 'x'], env)
    expect(missing.exitCode).toBe(2)
    expect(missing.stderr).toContain('-action is required')
    const noOutput = await run('dsm_c', ['-action', 'exportdsmcert'], env)
    expect(noOutput.exitCode).toBe(2)
    expect(noOutput.stderr).toContain('needs -output')
    const asJson = json(await run('dsm_c', ['-action', 'nope', '--json'], env))
    expect(asJson.error).toMatchObject({code: 'unknown-action', exitCode: 2})
  })
})

describe('binding an agent (tether agent bind) and its status', () => {
  let managerEnv: Record<string, string>
  let certFile: string
  let fingerprint: string
  beforeAll(async () => {
    ;({env: managerEnv} = await initManager(tempDir()))
    const dir = tempDir()
    certFile = path.join(dir, 'ds_agent_dsm.crt')
    const exported = json(await tether(['manager', 'export-cert', '--output', certFile, '--json'], managerEnv))
    fingerprint = exported.certificate.sha256
  })

  function agentDir(): string {
    return path.join(tempDir(), 'ds_agent', 'dsa_core')
  }

  it('an unactivated agent reports the bootstrap certificate hash', async () => {
    const status = json(await tether(['agent', 'status', '--json', '--dsa-core', agentDir()]))
    const sha256 = (await openssl(['x509', '-in', 'assets/bootstrap/bootstrap.crt', '-noout', '-fingerprint', '-sha256'])).stdout.trim().split('=')[1]
    const sha1 = (await openssl(['x509', '-in', 'assets/bootstrap/bootstrap.crt', '-noout', '-fingerprint', '-sha1'])).stdout.trim().split('=')[1]
    expect(status).toMatchObject({state: 'unactivated', certificateHash: {sha1, sha256, bootstrap: true}})
  })

  it('binds: the file lands in dsa_core (created owner-only), status says pre-activated with the fingerprint', async () => {
    const dsaCore = agentDir()
    fs.mkdirSync(path.dirname(dsaCore))
    const bound = await tether(['agent', 'bind', certFile], {TETHER_DSA_CORE: dsaCore})
    expect(bound.exitCode).toBe(0)
    expect(bound.stdout).toContain(fingerprint)
    expect(fs.readFileSync(path.join(dsaCore, 'ds_agent_dsm.crt'), 'utf8')).toBe(fs.readFileSync(certFile, 'utf8'))
    expect(fs.statSync(dsaCore).mode & 0o777).toBe(0o700)
    expect(fs.readdirSync(dsaCore).filter((n) => !isLockFile(n))).toEqual(['ds_agent_dsm.crt'])
    const status = json(await tether(['agent', 'status', '--json'], {TETHER_DSA_CORE: dsaCore}))
    expect(status.state).toBe('pre-activated')
    expect(status.boundManager.sha256).toBe(fingerprint)
    const human = await tether(['agent', 'status'], {TETHER_DSA_CORE: dsaCore})
    expect(human.stdout).toContain(`pre-activated (bound to ${fingerprint})`)
  })

  it('a binding is cleared only explicitly (reset --unbind); dsa_control -r refuses it by design, and is idempotent after', async () => {
    const dsaCore = agentDir()
    fs.mkdirSync(path.dirname(dsaCore))
    expect((await tether(['agent', 'bind', certFile, '--dsa-core', dsaCore])).exitCode).toBe(0)
    const refused = await run('dsa_control', ['-r'], {TETHER_DSA_CORE: dsaCore})
    expect(refused.exitCode).toBe(4)
    expect(refused.stderr).toMatch(/bound to the manager with certificate SHA-256 .*a local reset is refused by design/)
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent_dsm.crt'))).toBe(true)
    const noTty = await tether(['agent', 'reset', '--unbind', '--dsa-core', dsaCore])
    expect(noTty.exitCode).toBe(2)
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent_dsm.crt'))).toBe(true)
    const reset = await tether(['agent', 'reset', '--unbind', '--yes', '--dsa-core', dsaCore])
    expect(reset.exitCode).toBe(0)
    expect(fs.existsSync(path.join(dsaCore, 'ds_agent_dsm.crt'))).toBe(false)
    const again = json(await run('dsa_control', ['-r', '--json'], {TETHER_DSA_CORE: dsaCore}))
    expect(again).toMatchObject({state: 'unactivated', removed: []})
  })

  it('refuses bad input with one line naming the problem, exit non-zero, nothing written', async () => {
    const inputs = tempDir()
    const good = fs.readFileSync(certFile, 'utf8')
    const write = (sub: string, content: string) => {
      fs.mkdirSync(path.join(inputs, sub))
      const file = path.join(inputs, sub, 'ds_agent_dsm.crt')
      fs.writeFileSync(file, content)
      return file
    }

    const managerKey = fs.readFileSync(path.join(managerEnv.TETHER_MANAGER_HOME, 'manager.key'), 'utf8')
    const cases: Array<[string, string, RegExp, number]> = [
      ['not PEM', write('text', 'this is not a certificate\n'), /is not a PEM certificate/, 2],
      ['truncated', write('trunc', good.slice(0, good.length / 2)), /truncated PEM certificate/, 2],
      ['private key', write('key', managerKey), /contains a private key/, 2],
      ['CA certificate', write('ca', fs.readFileSync(path.join(managerEnv.TETHER_MANAGER_HOME, 'ca.crt'), 'utf8')), /is a CA certificate/, 2],
      ['wrong name', path.join(path.dirname(certFile), 'manager.crt'), /must be named exactly ds_agent_dsm.crt, not manager.crt/, 2],
      ['missing file', path.join(inputs, 'none', 'ds_agent_dsm.crt'), /cannot read .* \(ENOENT\)/, 3],
    ]
    fs.copyFileSync(certFile, path.join(path.dirname(certFile), 'manager.crt'))
    const dsaCore = agentDir()
    fs.mkdirSync(path.dirname(dsaCore))
    for (const [label, file, message, code] of cases) {
      const result = await tether(['agent', 'bind', file, '--dsa-core', dsaCore])
      expect(result.exitCode, label).toBe(code)
      expect(result.stderr, label).toMatch(message)
      expect(result.stderr.trim().split('\n'), label).toHaveLength(1)
      expect(fs.existsSync(dsaCore), label).toBe(false)
    }
  })

  it('refuses a missing or unwritable dsa_core parent', async () => {
    const missing = await tether(['agent', 'bind', certFile, '--dsa-core', path.join(tempDir(), 'no', 'such', 'dsa_core')])
    expect(missing.exitCode).toBe(3)
    expect(missing.stderr).toMatch(/does not exist; install the agent first, or point --dsa-core/)
    // /sys refuses new directories even to root: a real unwritable parent.
    const unwritable = await tether(['agent', 'bind', certFile, '--dsa-core', '/sys/dsa_core'])
    expect(unwritable.exitCode).toBe(2)
    expect(unwritable.stderr).toMatch(/cannot create \/sys\/dsa_core/)
  })

  it('refuses an expired certificate', async () => {
    const dir = tempDir()
    const file = path.join(dir, 'ds_agent_dsm.crt')
    const keys = await generateRsaKeyPair(2048)
    fs.writeFileSync(file, await issueCertificate({
      profile: 'manager', subject: {commonName: 'old'}, publicKeyPem: keys.publicKeyPem, signerKeyPem: keys.privateKeyPem,
      notBefore: new Date('2020-01-01T00:00:00Z'), validityDays: 366,
    }))
    expect((await openssl(['x509', '-in', file, '-noout', '-checkend', '0'])).stdout).toContain('will expire')
    const result = await tether(['agent', 'bind', file, '--dsa-core', agentDir()])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toMatch(/expired on 2021-01-01/)
  })

  it('--platform windows computes the Windows path and will not write it from Linux', async () => {
    const result = await tether(['agent', 'bind', certFile, '--platform', 'windows', '--json'], {ProgramData: 'C:\\ProgramData'})
    expect(result.exitCode).toBe(2)
    expect(json(result).error.message).toContain('C:\\ProgramData\\Trend Micro\\Deep Security Agent\\dsa_core')
  })
})

describe('usage errors', () => {
  it('name the missing argument or flag on one line', async () => {
    const flag = await tether(['manager', 'export-cert'])
    expect(flag.exitCode).toBe(2)
    expect(flag.stderr.trim()).toMatch(/^Error: Missing required flag output; see `tether manager export-cert --help`$/)
    const arg = await tether(['manager', 'policies', 'assign', 'web'])
    expect(arg.exitCode).toBe(2)
    expect(arg.stderr).toContain('Missing 1 required arg: computer')
    expect(arg.stderr.trim().split('\n')).toHaveLength(1)
  })
})
