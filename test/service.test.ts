import fs from 'node:fs'
import path from 'node:path'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {systemdWord, windowsArg, windowsCommandLine} from '../src/platform/service.js'
import {BIN, ROOT, initManager, json, tempDir, tether} from './helpers.js'

/**
 * `tether agent install-service` and `tether manager install-service`: the unit text and the
 * commands on both platforms exactly, the unit written into a scratch --unit-dir, and --enable
 * checked against a stand-in `systemctl` first on PATH (this container runs no systemd) that
 * records how it was called.
 */

const RUN_JS = path.join(ROOT, 'bin', 'run.js')

const HARDENING = [
  'Restart=on-failure',
  'RestartSec=5',
  'TimeoutStopSec=30',
  'LimitNOFILE=65536',
  'UMask=0077',
  'NoNewPrivileges=yes',
  'PrivateTmp=yes',
  'ProtectSystem=strict',
]
const CONFINEMENT = ['ProtectKernelTunables=yes', 'ProtectKernelModules=yes', 'ProtectControlGroups=yes', 'RestrictSUIDSGID=yes', 'LockPersonality=yes']

describe('systemd and Windows quoting', () => {
  it('systemd words: % and (in commands) $ doubled, quoted with C escapes when needed', () => {
    expect(systemdWord('/var/opt/ds_agent/dsa_core')).toBe('/var/opt/ds_agent/dsa_core')
    expect(systemdWord('--dsa-core', {command: true})).toBe('--dsa-core')
    expect(systemdWord('/srv/a b/100%')).toBe('"/srv/a b/100%%"')
    expect(systemdWord('/srv/$HOME', {command: true})).toBe('"/srv/$$HOME"')
    expect(systemdWord('KEY=/srv/$HOME')).toBe('"KEY=/srv/$HOME"')
    expect(systemdWord('a"b\\c')).toBe('"a\\"b\\\\c"')
    expect(systemdWord('')).toBe('""')
  })

  it('Windows arguments follow the C runtime rules sc.exe and node.exe parse with', () => {
    expect(windowsArg('C:\\tether\\tether.exe')).toBe('C:\\tether\\tether.exe')
    expect(windowsArg('C:\\Program Files\\nodejs\\node.exe')).toBe('"C:\\Program Files\\nodejs\\node.exe"')
    expect(windowsArg('a"b')).toBe('"a\\"b"')
    expect(windowsArg('a\\"b')).toBe('"a\\\\\\"b"')
    expect(windowsArg('C:\\dir with space\\')).toBe('"C:\\dir with space\\\\"')
    expect(windowsArg('')).toBe('""')
    expect(windowsCommandLine(['sc.exe', 'create', 'x', 'binPath=', '"C:\\a b\\n.exe" run'])).toBe('sc.exe create x binPath= "\\"C:\\a b\\n.exe\\" run"')
  })
})

describe('tether agent/manager install-service --platform linux --dry-run', () => {
  it('the agent unit and its commands, exactly; nothing written', async () => {
    const unitDir = tempDir()
    const result = await tether([
      'agent', 'install-service', '--platform', 'linux', '--dry-run', '--json', '--unit-dir', unitDir,
      '--dsa-core', '/var/opt/ds_agent/dsa_core', '--bin', '/opt/tether/bin/tether', '--host', '0.0.0.0',
    ])
    expect(result.exitCode).toBe(0)
    const unit = [
      '# Written by `tether agent install-service`. Regenerate it with that command rather than editing it.',
      '[Unit]',
      'Description=tether agent (command server for the tether manager)',
      'Wants=network-online.target',
      'After=network-online.target',
      '',
      '[Service]',
      'Type=simple',
      'User=root',
      'Environment=TETHER_DSA_CORE=/var/opt/ds_agent/dsa_core',
      'ExecStart=/opt/tether/bin/tether agent start --dsa-core /var/opt/ds_agent/dsa_core --host 0.0.0.0 --port 4118',
      ...HARDENING,
      'ReadWritePaths=/var/opt/ds_agent/dsa_core',
      ...CONFINEMENT,
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ].join('\n')
    expect(json(result)).toEqual({
      role: 'agent',
      platform: 'linux',
      service: 'tether-agent.service',
      stateDir: '/var/opt/ds_agent/dsa_core',
      execStart: ['/opt/tether/bin/tether', 'agent', 'start', '--dsa-core', '/var/opt/ds_agent/dsa_core', '--host', '0.0.0.0', '--port', '4118'],
      unitFile: path.join(unitDir, 'tether-agent.service'),
      unit,
      commands: [['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', 'tether-agent.service']],
      notes: [],
      dryRun: true,
      written: false,
      unchanged: false,
      createdDir: null,
      enabled: false,
    })
    expect(fs.readdirSync(unitDir)).toEqual([])

    const human = await tether([
      'agent', 'install-service', '--platform', 'linux', '--dry-run', '--enable', '--unit-dir', unitDir,
      '--dsa-core', '/var/opt/ds_agent/dsa_core', '--bin', '/opt/tether/bin/tether', '--host', '0.0.0.0',
    ])
    expect(human.exitCode).toBe(0)
    expect(human.stdout).toBe([
      `Would write ${unitDir}/tether-agent.service:`,
      '',
      unit.trimEnd(),
      '',
      'Would run:',
      '  systemctl daemon-reload',
      '  systemctl enable --now tether-agent.service',
    ].join('\n'))
    expect(fs.readdirSync(unitDir)).toEqual([])
  })

  it('the manager unit: home quoted and escaped, a non-root user, a low port, and what is left to do', async () => {
    const unitDir = tempDir()
    const home = '/srv/tether home/100%'
    const result = json(await tether([
      'manager', 'install-service', '--platform', 'linux', '--dry-run', '--json', '--unit-dir', unitDir,
      '--home', home, '--bin', '/opt/tether/bin/tether', '--user', 'tether', '--port', '443', '--host', '0.0.0.0',
    ]))
    expect(result.unit).toBe([
      '# Written by `tether manager install-service`. Regenerate it with that command rather than editing it.',
      '[Unit]',
      'Description=tether manager (certificate authority, registry and heartbeat listener)',
      'Wants=network-online.target',
      'After=network-online.target',
      '',
      '[Service]',
      'Type=simple',
      'User=tether',
      'Environment="TETHER_MANAGER_HOME=/srv/tether home/100%%"',
      'ExecStart=/opt/tether/bin/tether manager start --home "/srv/tether home/100%%" --host 0.0.0.0 --port 443',
      ...HARDENING,
      'ReadWritePaths="/srv/tether home/100%%"',
      ...CONFINEMENT,
      'AmbientCapabilities=CAP_NET_BIND_SERVICE',
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ].join('\n'))
    expect(result).toMatchObject({
      service: 'tether-manager.service',
      unitFile: path.join(unitDir, 'tether-manager.service'),
      commands: [['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', 'tether-manager.service']],
      notes: [
        "The manager home /srv/tether home/100% is not initialized: run `tether manager init --home '/srv/tether home/100%'` as tether before the service starts.",
        'The service runs as tether, who must own /srv/tether home/100% and the files in it.',
      ],
      written: false,
      enabled: false,
    })
    expect(fs.readdirSync(unitDir)).toEqual([])
  })

  it('refuses values that would break the unit or cannot run', async () => {
    const unitDir = tempDir()
    const base = ['agent', 'install-service', '--platform', 'linux', '--dry-run', '--json', '--unit-dir', unitDir, '--dsa-core', '/var/opt/ds_agent/dsa_core']
    const cases: Array<[string[], string]> = [
      [['--host', '0.0.0.0\nExecStartPre=/bin/sh'], 'bad-service-value'],
      [['--user', 'a b'], 'bad-service-value'],
      [['--bin', 'bin/tether'], 'bin-not-absolute'],
      [['--bin', '/opt/tether/tether', '--node', '/usr/bin/node'], 'conflicting-flags'],
      [['--port', '0'], 'usage'],
    ]
    for (const [extra, code] of cases) {
      const result = await tether([...base, ...extra])
      expect(result.exitCode, extra.join(' ')).toBe(2)
      expect(json(result).error.code, extra.join(' ')).toBe(code)
    }

    expect(fs.readdirSync(unitDir)).toEqual([])
  })
})

describe('install-service --platform windows: the sc.exe commands, printed and never run', () => {
  it('agent: the default dsa_core, node and run.js quoted inside binPath', async () => {
    const args = [
      'agent', 'install-service', '--platform', 'windows', '--host', '0.0.0.0',
      '--node', 'C:\\Program Files\\nodejs\\node.exe', '--bin', 'C:\\Program Files\\tether\\bin\\run.js',
    ]
    const result = json(await tether([...args, '--json']))
    const binPath = '"C:\\Program Files\\nodejs\\node.exe" "C:\\Program Files\\tether\\bin\\run.js" agent start --dsa-core "C:\\ProgramData\\Trend Micro\\Deep Security Agent\\dsa_core" --host 0.0.0.0 --port 4118'
    const scmNote = 'A Windows service must answer the Service Control Manager, which Node.js does not do by itself: if Windows reports error 1053, run the same command line under a service wrapper (WinSW, NSSM) instead.'
    expect(result).toEqual({
      role: 'agent',
      platform: 'windows',
      service: 'tether-agent',
      stateDir: 'C:\\ProgramData\\Trend Micro\\Deep Security Agent\\dsa_core',
      execStart: [
        'C:\\Program Files\\nodejs\\node.exe', 'C:\\Program Files\\tether\\bin\\run.js', 'agent', 'start',
        '--dsa-core', 'C:\\ProgramData\\Trend Micro\\Deep Security Agent\\dsa_core', '--host', '0.0.0.0', '--port', '4118',
      ],
      unitFile: null,
      unit: null,
      commands: [
        ['sc.exe', 'create', 'tether-agent', 'binPath=', binPath, 'start=', 'auto', 'DisplayName=', 'tether agent'],
        ['sc.exe', 'failure', 'tether-agent', 'reset=', '86400', 'actions=', 'restart/5000/restart/5000/restart/60000'],
        ['sc.exe', 'start', 'tether-agent'],
      ],
      notes: [scmNote],
      dryRun: false,
      written: false,
      unchanged: false,
      createdDir: null,
      enabled: false,
    })

    const human = await tether([...args, '--dry-run'])
    expect(human.exitCode).toBe(0)
    expect(human.stdout).toBe([
      'Run these in an elevated Command Prompt on the Windows machine:',
      '  sc.exe create tether-agent binPath= "\\"C:\\Program Files\\nodejs\\node.exe\\" \\"C:\\Program Files\\tether\\bin\\run.js\\" agent start --dsa-core \\"C:\\ProgramData\\Trend Micro\\Deep Security Agent\\dsa_core\\" --host 0.0.0.0 --port 4118" start= auto DisplayName= "tether agent"',
      '  sc.exe failure tether-agent reset= 86400 actions= restart/5000/restart/5000/restart/60000',
      '  sc.exe start tether-agent',
      `Note: ${scmNote}`,
    ].join('\n'))
  })

  it('manager: --home and an account (obj=) baked in', async () => {
    const result = json(await tether([
      'manager', 'install-service', '--platform', 'windows', '--json', '--home', 'D:\\tether\\manager',
      '--bin', 'C:\\tether\\tether.exe', '--user', 'NT AUTHORITY\\LocalService', '--port', '4120',
    ]))
    expect(result.commands).toEqual([
      [
        'sc.exe', 'create', 'tether-manager', 'binPath=', 'C:\\tether\\tether.exe manager start --home D:\\tether\\manager --host 127.0.0.1 --port 4120',
        'start=', 'auto', 'DisplayName=', 'tether manager', 'obj=', 'NT AUTHORITY\\LocalService',
      ],
      ['sc.exe', 'failure', 'tether-manager', 'reset=', '86400', 'actions=', 'restart/5000/restart/5000/restart/60000'],
      ['sc.exe', 'start', 'tether-manager'],
    ])
    expect(result).toMatchObject({service: 'tether-manager', unitFile: null, unit: null, enabled: false})
  })

  it('needs Windows paths from a Linux machine, and never runs sc.exe itself', async () => {
    const cases: Array<[string[], string, RegExp]> = [
      [['agent', 'install-service', '--platform', 'windows'], 'foreign-platform-path', /pass --bin/],
      [['manager', 'install-service', '--platform', 'windows', '--bin', 'C:\\tether\\tether.exe'], 'foreign-platform-path', /pass --home with an absolute windows path/],
      [['agent', 'install-service', '--platform', 'windows', '--bin', 'C:\\tether\\run.js'], 'foreign-platform-path', /pass --node/],
      [['agent', 'install-service', '--platform', 'windows', '--bin', 'C:\\tether\\tether.exe', '--dsa-core', 'dsa_core'], 'foreign-platform-path', /not an absolute windows path/],
      [['agent', 'install-service', '--platform', 'windows', '--bin', 'C:\\tether\\tether.exe', '--enable'], 'enable-unsupported', /run the printed sc.exe commands/],
      [['agent', 'install-service', '--platform', 'windows', '--bin', 'C:\\tether\\tether.exe', '--unit-dir', '/etc/systemd/system'], 'conflicting-flags', /--unit-dir/],
    ]
    for (const [args, code, hint] of cases) {
      const result = await tether(args)
      expect(result.exitCode, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(hint)
      expect(json(await tether([...args, '--json'])).error.code, args.join(' ')).toBe(code)
    }
  })
})

/** A stand-in systemctl: records each call (and whether the unit file was in place) to a log. */
function fakeSystemctl(options: {failOn?: string} = {}): {binDir: string; log: string; env: (unitFile: string) => Record<string, string>} {
  const binDir = tempDir('tether-fake-systemctl-')
  const log = path.join(binDir, 'calls.log')
  fs.writeFileSync(path.join(binDir, 'systemctl'), [
    '#!/bin/sh',
    'line="systemctl"',
    'for arg in "$@"; do line="$line [$arg]"; done',
    'if [ -f "$FAKE_UNIT_FILE" ]; then line="$line unit-present"; else line="$line unit-missing"; fi',
    'printf \'%s\\n\' "$line" >> "$FAKE_SYSTEMCTL_LOG"',
    ...(options.failOn ? [`if [ "$1" = "${options.failOn}" ]; then echo "Failed to connect to bus: No such file or directory" >&2; exit 1; fi`] : []),
    'exit 0',
    '',
  ].join('\n'), {mode: 0o755})
  return {
    binDir,
    log,
    env: (unitFile) => ({PATH: `${binDir}${path.delimiter}${process.env.PATH}`, FAKE_SYSTEMCTL_LOG: log, FAKE_UNIT_FILE: unitFile}),
  }
}

const calls = (log: string) => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trimEnd().split('\n') : [])

describe('install-service on Linux: writing the unit', () => {
  const agentSetup = () => {
    const unitDir = tempDir()
    const dsaCore = path.join(tempDir(), 'ds_agent', 'dsa_core')
    fs.mkdirSync(path.dirname(dsaCore))
    return {unitDir, dsaCore, unitFile: path.join(unitDir, 'tether-agent.service'), args: ['agent', 'install-service', '--unit-dir', unitDir, '--dsa-core', dsaCore]}
  }

  it('writes the dry-run unit atomically (0644), creates dsa_core owner-only, and systemd accepts it', async () => {
    const {unitDir, dsaCore, unitFile, args} = agentSetup()
    const planned = json(await tether([...args, '--dry-run', '--json']))
    expect(fs.existsSync(dsaCore)).toBe(false)
    const result = await tether([...args, '--json'])
    expect(result.exitCode).toBe(0)
    const written = json(result)
    expect(written).toMatchObject({written: true, unchanged: false, createdDir: dsaCore, enabled: false, dryRun: false, unitFile})
    expect(written.unit).toBe(planned.unit)
    expect(written.execStart).toEqual([process.execPath, RUN_JS, 'agent', 'start', '--dsa-core', dsaCore, '--host', '127.0.0.1', '--port', '4118'])
    expect(fs.readFileSync(unitFile, 'utf8')).toBe(planned.unit)
    expect(fs.statSync(unitFile).mode & 0o777).toBe(0o644)
    expect(fs.readdirSync(unitDir)).toEqual(['tether-agent.service'])
    expect(fs.statSync(dsaCore).mode & 0o777).toBe(0o700)
    expect(fs.readFileSync(unitFile, 'utf8')).toContain(`ExecStart=${process.execPath} ${RUN_JS} agent start --dsa-core ${dsaCore} --host 127.0.0.1 --port 4118\n`)

    // systemd's own parser, where this machine has it (the unit names real, executable paths).
    const analyze = await execa('systemd-analyze', ['verify', unitFile], {reject: false})
    if ((analyze as {code?: string}).code !== 'ENOENT') expect(analyze.exitCode, String(analyze.stderr)).toBe(0)
  })

  it('leaves an identical unit alone, refuses a different one (also in --dry-run) unless --force', async () => {
    const {unitFile, args} = agentSetup()
    expect((await tether(args)).exitCode).toBe(0)
    const original = fs.readFileSync(unitFile, 'utf8')

    const again = await tether(args)
    expect(again.exitCode).toBe(0)
    expect(again.stdout).toContain(`${unitFile} already holds this unit; left it as it is`)
    expect(json(await tether([...args, '--json']))).toMatchObject({written: false, unchanged: true, createdDir: null})

    for (const extra of [[], ['--dry-run']]) {
      const changed = await tether([...args, '--port', '4119', ...extra])
      expect(changed.exitCode).toBe(4)
      expect(changed.stderr).toBe(`Error: ${unitFile} already exists and differs from the unit tether would write; add --dry-run to see the new unit, or --force to replace the file`)
      expect(fs.readFileSync(unitFile, 'utf8')).toBe(original)
    }

    expect(json(await tether([...args, '--port', '4119', '--json'])).error).toMatchObject({code: 'unit-exists', class: 'refused', exitCode: 4})
    const forced = json(await tether([...args, '--port', '4119', '--force', '--json']))
    expect(forced).toMatchObject({written: true})
    expect(fs.readFileSync(unitFile, 'utf8')).toBe(forced.unit)
    expect(forced.unit).toContain('--port 4119\n')
    expect(fs.readdirSync(path.dirname(unitFile))).toEqual(['tether-agent.service'])
  })

  it('a service user owns the dsa_core it creates; an unknown user or a missing parent leaves nothing behind', async () => {
    const {dsaCore, unitFile, args} = agentSetup()
    const nobody = Number(String((await execa('id', ['-u', 'nobody'])).stdout))
    const result = json(await tether([...args, '--user', 'nobody', '--json']))
    expect(result).toMatchObject({written: true, createdDir: dsaCore})
    expect(fs.statSync(dsaCore).uid).toBe(nobody)
    expect(fs.readFileSync(unitFile, 'utf8')).toContain('\nUser=nobody\n')

    const other = agentSetup()
    const unknown = await tether([...other.args, '--user', 'no-such-user-tether'])
    expect(unknown.exitCode).toBe(3)
    expect(unknown.stderr).toContain('there is no user no-such-user-tether on this machine')
    expect(fs.existsSync(other.dsaCore)).toBe(false)
    expect(fs.existsSync(other.unitFile)).toBe(false)

    const orphan = path.join(tempDir(), 'missing', 'dsa_core')
    const noParent = await tether(['agent', 'install-service', '--unit-dir', other.unitDir, '--dsa-core', orphan])
    expect(noParent.exitCode).toBe(3)
    expect(noParent.stderr).toContain(`the directory ${path.dirname(orphan)} does not exist`)
    expect(fs.readdirSync(other.unitDir)).toEqual([])
  })

  it('a unit directory that does not exist is named', async () => {
    const {dsaCore} = agentSetup()
    const unitDir = path.join(tempDir(), 'no', 'systemd')
    const result = await tether(['agent', 'install-service', '--unit-dir', unitDir, '--dsa-core', dsaCore, '--json'])
    expect(result.exitCode).toBe(3)
    expect(json(result).error).toMatchObject({code: 'unit-dir-missing', message: `the unit directory ${unitDir} does not exist`})
  })
})

describe('install-service --enable: systemctl through execa (a stand-in first on PATH)', () => {
  let managerHome: string
  beforeAll(async () => {
    ;({home: managerHome} = await initManager(tempDir()))
  })

  it('agent: daemon-reload, then enable --now, after the unit is in place', async () => {
    const unitDir = tempDir()
    const dsaCore = path.join(tempDir(), 'dsa_core')
    const unitFile = path.join(unitDir, 'tether-agent.service')
    const fake = fakeSystemctl()
    const result = await tether(['agent', 'install-service', '--enable', '--unit-dir', unitDir, '--dsa-core', dsaCore], fake.env(unitFile))
    expect(result.exitCode).toBe(0)
    expect(calls(fake.log)).toEqual([
      'systemctl [daemon-reload] unit-present',
      'systemctl [enable] [--now] [tether-agent.service] unit-present',
    ])
    expect(result.stdout).toBe([
      `Created ${dsaCore} (owner-only)`,
      `Wrote ${unitFile}`,
      'Ran:',
      '  systemctl daemon-reload',
      '  systemctl enable --now tether-agent.service',
      'tether-agent.service is enabled and started',
    ].join('\n'))

    // Enabling an unchanged unit runs systemctl again (it may have been disabled since).
    const again = json(await tether(['agent', 'install-service', '--enable', '--json', '--unit-dir', unitDir, '--dsa-core', dsaCore], fake.env(unitFile)))
    expect(again).toMatchObject({written: false, unchanged: true, enabled: true})
    expect(calls(fake.log)).toHaveLength(4)
  })

  it('manager: enables an initialized home; refuses an uninitialized one before writing anything', async () => {
    const unitDir = tempDir()
    const unitFile = path.join(unitDir, 'tether-manager.service')
    const fake = fakeSystemctl()
    const empty = path.join(tempDir(), 'manager')
    const refused = await tether(['manager', 'install-service', '--enable', '--json', '--unit-dir', unitDir, '--home', empty], fake.env(unitFile))
    expect(refused.exitCode).toBe(3)
    expect(json(refused).error).toMatchObject({code: 'home-not-initialized'})
    expect(fs.readdirSync(unitDir)).toEqual([])
    expect(calls(fake.log)).toEqual([])

    const enabled = json(await tether(['manager', 'install-service', '--enable', '--json', '--unit-dir', unitDir, '--home', managerHome, '--host', '0.0.0.0'], fake.env(unitFile)))
    expect(enabled).toMatchObject({written: true, enabled: true, createdDir: null, notes: []})
    expect(fs.readFileSync(unitFile, 'utf8')).toContain(`ExecStart=${process.execPath} ${RUN_JS} manager start --home ${managerHome} --host 0.0.0.0 --port 4120\n`)
    expect(calls(fake.log)).toEqual([
      'systemctl [daemon-reload] unit-present',
      'systemctl [enable] [--now] [tether-manager.service] unit-present',
    ])
  })

  it('--dry-run --enable runs nothing', async () => {
    const unitDir = tempDir()
    const fake = fakeSystemctl()
    const result = await tether(['agent', 'install-service', '--enable', '--dry-run', '--unit-dir', unitDir, '--dsa-core', path.join(tempDir(), 'dsa_core')], fake.env(path.join(unitDir, 'tether-agent.service')))
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('Would run:\n  systemctl daemon-reload\n  systemctl enable --now tether-agent.service')
    expect(calls(fake.log)).toEqual([])
    expect(fs.readdirSync(unitDir)).toEqual([])
  })

  it('a failing systemctl: its message, exit 6, the unit kept, nothing run after it', async () => {
    const unitDir = tempDir()
    const unitFile = path.join(unitDir, 'tether-agent.service')
    const fake = fakeSystemctl({failOn: 'daemon-reload'})
    const result = await tether(['agent', 'install-service', '--enable', '--unit-dir', unitDir, '--dsa-core', path.join(tempDir(), 'dsa_core')], fake.env(unitFile))
    expect(result.exitCode).toBe(6)
    expect(result.stderr).toBe('Error: `systemctl daemon-reload` failed: Failed to connect to bus: No such file or directory; the unit file is in place; fix the cause and run the systemctl commands again')
    expect(calls(fake.log)).toEqual(['systemctl [daemon-reload] unit-present'])
    expect(fs.existsSync(unitFile)).toBe(true)
  })

  it('no systemctl at all: named, exit 3', async () => {
    const unitDir = tempDir()
    const emptyPath = tempDir()
    const result = await tether(['agent', 'install-service', '--enable', '--json', '--unit-dir', unitDir, '--dsa-core', path.join(tempDir(), 'dsa_core')], {PATH: emptyPath})
    expect(result.exitCode).toBe(3)
    expect(json(result).error).toMatchObject({code: 'systemctl-missing', message: 'systemctl was not found'})
  })
})

describe('the executable the unit runs', () => {
  it('defaults to this Node.js and this tether, and that command line works', async () => {
    const planned = json(await tether(['agent', 'install-service', '--dry-run', '--json', '--dsa-core', '/var/opt/ds_agent/dsa_core']))
    expect(planned.execStart.slice(0, 2)).toEqual([process.execPath, BIN.tether])
    expect(planned.unitFile).toBe('/etc/systemd/system/tether-agent.service')
    const version = await execa(planned.execStart[0], [planned.execStart[1], '--version'], {reject: false})
    expect(version.exitCode).toBe(0)
    expect(String(version.stdout)).toMatch(/^tether\/\d+\.\d+\.\d+ /)
  })
})
