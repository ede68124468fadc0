import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {filterFields} from '../src/agent/query.js'
import {heartbeatRequestOf, parseClassicWords} from '../src/agent/words.js'
import {parseProxyAuth, parseProxyUrl} from '../src/channel/proxy.js'
import {parseDsaControl} from '../src/compat/dsa-control-args.js'
import {translateDsaControl} from '../src/compat/dsa_control.js'
import {translateDsaQuery, translateSendCommand} from '../src/compat/dsa_query.js'
import {translateDsmC} from '../src/compat/dsm_c.js'
import {failureForStatus, statusForFailure, statusLine} from '../src/compat/status.js'
import {ExitCode, TetherError} from '../src/errors.js'
import {buildZip} from '../src/platform/zip.js'
import {tempDir} from './helpers.js'

/** The classic argument parsers, in process: every option, long forms, options anywhere, usage errors. */

function usage(fn: () => unknown): TetherError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(TetherError)
    expect((error as TetherError).failure).toBe('usage')
    return error as TetherError
  }

  throw new Error('expected a usage error')
}

describe('dsa_control', () => {
  it('translates each action, with the options anywhere and the words after `--`', () => {
    expect(translateDsaControl(['-a', 'dsm://m:4120/', 'policyid:4', '--max-dsm-retries', '0'])).toEqual(['agent', 'activate', '--max-dsm-retries', '0', '--', 'dsm://m:4120/', 'policyid:4'])
    expect(translateDsaControl(['--dsm-retry-interval=5', 'displayname:web 01', '--activate=dsm://m/'])).toEqual(['agent', 'activate', '--dsm-retry-interval', '5', '--', 'dsm://m/', 'displayname:web 01'])
    expect(translateDsaControl(['-adsm://[::1]:4120/'])).toEqual(['agent', 'activate', '--', 'dsm://[::1]:4120/'])
    expect(translateDsaControl(['-r', '--dsa-core', '/x/dsa_core'])).toEqual(['agent', 'reset', '--yes', '--dsa-core', '/x/dsa_core'])
    expect(translateDsaControl(['--dsa-core=/x/dsa_core', '--reset', '--json'])).toEqual(['agent', 'reset', '--yes', '--dsa-core', '/x/dsa_core', '--json'])
    expect(translateDsaControl(['-m', 'policy:Base', '-p', 'pw', '-t', '3'])).toEqual(['agent', 'heartbeat', '--password', 'pw', '--service-retries', '3', '--', 'policy:Base'])
    expect(translateDsaControl(['--heartbeat', '--passwd=pw'])).toEqual(['agent', 'heartbeat', '--password', 'pw', '--'])
    expect(translateDsaControl(['-d', '-p', 'pw'])).toEqual(['agent', 'diag', '--password', 'pw'])
    expect(translateDsaControl(['--diag'])).toEqual(['agent', 'diag'])
    expect(translateDsaControl(['-s', '0', '-p', 'pw'])).toEqual(['agent', 'self-protect', '0', '--password', 'pw'])
    expect(translateDsaControl(['--selfprotect=1'])).toEqual(['agent', 'self-protect', '1'])
    expect(translateDsaControl(['-x', 'dsm_proxy://p:3128/', '-u', 'u:p'])).toEqual(['agent', 'proxy', '--manager', 'dsm_proxy://p:3128/', '--manager-auth', 'u:p'])
    expect(translateDsaControl(['--dsmproxy=', '--dsmproxyauth='])).toEqual(['agent', 'proxy', '--manager', '', '--manager-auth', ''])
    expect(translateDsaControl(['-y', 'relay_proxy://r:8080/', '-w', 'a:b'])).toEqual(['agent', 'proxy', '--relay', 'relay_proxy://r:8080/', '--relay-auth', 'a:b'])
    expect(translateDsaControl(['--relayproxy', 'relay_proxy://r:8080/', '--relayproxyauth', 'a:b'])).toEqual(['agent', 'proxy', '--relay', 'relay_proxy://r:8080/', '--relay-auth', 'a:b'])
    expect(translateDsaControl(['--buildBaseline'])).toEqual(['agent', 'heartbeat', '--no-contact', '--', 'RebuildBaseline:true'])
    expect(translateDsaControl(['--scanforchanges'])).toEqual(['agent', 'heartbeat', '--no-contact', '--', 'IntegrityScan:true'])
    expect(translateDsaControl(['-h'])).toEqual(['__usage__'])
    expect(translateDsaControl(['--help'])).toEqual(['__usage__'])
  })

  it('refuses what a script gets wrong, naming the classic options', () => {
    expect(usage(() => translateDsaControl([])).message).toMatch(/no action given/)
    expect(usage(() => translateDsaControl(['-r', '-a', 'dsm://m/'])).message).toMatch(/-r and -a are two actions/)
    expect(usage(() => translateDsaControl(['-m', '-r'])).message).toMatch(/two actions/)
    expect(usage(() => translateDsaControl(['-x', 'dsm_proxy://p:1/', '-a', 'dsm://m/'])).message).toMatch(/two actions/)
    expect(usage(() => translateDsaControl(['-q'])).message).toMatch(/unknown option "-q"/)
    expect(usage(() => translateDsaControl(['--reboot'])).message).toMatch(/unknown option "--reboot"/)
    expect(usage(() => translateDsaControl(['-r', 'now'])).message).toMatch(/unexpected argument "now"/)
    expect(usage(() => translateDsaControl(['-r', 'policyid:4'])).message).toMatch(/go with -a or -m only/)
    expect(usage(() => translateDsaControl(['-a'])).message).toMatch(/-a needs a value/)
    expect(usage(() => translateDsaControl(['-m', '--max-dsm-retries', '3'])).message).toMatch(/--max-dsm-retries goes with -a only/)
    expect(usage(() => translateDsaControl(['-p', 'pw'])).message).toMatch(/no action given/)
    expect(usage(() => translateDsaControl(['--reset=yes'])).message).toMatch(/--reset takes no value/)
    expect(usage(() => translateDsaControl(['-p', 'a', '-p', 'b', '-r'])).message).toMatch(/given twice/)
    for (const [args, what] of [[['-b'], '-b'], [['-c', 'f.crt'], '-c'], [['-g', 'dsm://m/'], '-g'], [['-R', 'file'], '-R']] as const) {
      const refused = usage(() => translateDsaControl([...args]))
      expect(refused.code).toBe('not-supported-by-tether')
      expect(refused.message).toContain(`dsa_control ${what}`)
      expect(refused.message).toMatch(/not supported by tether/)
    }
  })

  it('keeps words in order and lets modifiers sit before the action', () => {
    const line = parseDsaControl(['-t', '2', 'group:A/B', '-a', 'dsm://m/', 'token:x:y'])
    expect(line).toMatchObject({action: 'activate', value: 'dsm://m/', words: ['group:A/B', 'token:x:y'], modifiers: {serviceRetries: '2'}})
  })
})

describe('classic words', () => {
  it('keys are case-insensitive, tenantPassword is token, an unknown key is a warning', () => {
    const words = parseClassicWords(['policyID:4', 'DisplayName:web 01', 'tenantPassword:s:3', 'colour:blue', 'relayid:9', 'GROUP:Prod/Web'], 'activate')
    expect(words.args).toEqual({policyid: '4', displayname: 'web 01', token: 's:3', relayid: '9', group: 'Prod/Web'})
    expect(words.warnings).toHaveLength(1)
    expect(words.warnings[0]).toMatch(/unknown keyword "colour:" ignored/)
    expect(() => parseClassicWords(['novalue'], 'activate')).toThrow(/not a keyword:value word/)
  })

  it('-m: engine words, UpdateConfiguration, and no token or hostname', () => {
    const words = parseClassicWords(['RecommendationScan:true', 'antimalwaremanualscan:true', 'UpdateConfiguration:true', 'policy:Base', 'token:x'], 'heartbeat')
    expect(words.engineWords).toEqual(['RecommendationScan', 'AntiMalwareManualScan'])
    expect(words.updateConfiguration).toBe(true)
    expect(words.warnings.join()).toMatch(/"token:"/)
    expect(heartbeatRequestOf(words)).toEqual({policy: 'Base', updateConfiguration: true})
    expect(heartbeatRequestOf(parseClassicWords(['IntegrityScan:true'], 'heartbeat'))).toBeUndefined()
  })
})

describe('dsm_c', () => {
  it('option names are case-insensitive; each action takes its own options', () => {
    expect(translateDsmC(['-Action', 'ChangeSetting', '-Name', 'settings.configuration.agentInitiatedActivation', '-Value', '1'])).toEqual(['manager', 'settings', 'set', 'settings.configuration.agentInitiatedActivation', '1'])
    expect(translateDsmC(['-action', 'changesetting', '-computername', 'relay-01', '-name', 'settings.configuration.relayState', '-value', 'true'])).toEqual(['manager', 'settings', 'set', 'settings.configuration.relayState', 'true', '--computer', 'relay-01'])
    expect(translateDsmC(['-action', 'viewsetting', '-name', 'agentCommunications', '-home', '/m'])).toEqual(['manager', 'settings', 'get', 'agentCommunications', '--home', '/m'])
    expect(translateDsmC(['-action', 'exportdsmcert', '-output', 'out/', '-tenantname', 'Primary', '--json'])).toEqual(['manager', 'export-cert', '--output', 'out/', '--tenant-name', 'Primary', '--json'])
    expect(translateDsmC(['-action', 'exportdsmcert', '-OUTPUT', 'ds_agent_dsm.crt', '-TenantID', 'ABC'])).toEqual(['manager', 'export-cert', '--output', 'ds_agent_dsm.crt', '--tenant-id', 'ABC'])
  })

  it('unknown options, missing values and repeats are usage errors', () => {
    expect(usage(() => translateDsmC(['-action', 'changesetting', '-name', 'x', '-value', '1', '-force', 'yes'])).message).toMatch(/does not take -force/)
    expect(usage(() => translateDsmC(['-action', 'changesetting', '-name', 'x', '-value'])).message).toMatch(/-value needs a value/)
    expect(usage(() => translateDsmC(['-action', 'changesetting', '-name', '-value', '1'])).message).toMatch(/-name needs a value/)
    expect(usage(() => translateDsmC(['-action', 'viewsetting', '-name', 'a', '-name', 'b'])).message).toMatch(/given twice/)
    expect(usage(() => translateDsmC(['-action', 'viewsetting', '-name', 'a', '-value', '1'])).message).toMatch(/does not take -value/)
    expect(usage(() => translateDsmC(['-action', 'exportdsmcert', '-output', 'x', '-tenantname', 'a', '-tenantid', 'b'])).message).toMatch(/not both/)
    expect(usage(() => translateDsmC(['-action', 'changesetting', '-value', '1'])).message).toMatch(/needs -name/)
    expect(usage(() => translateDsmC(['-action', 'frobnicate'])).message).toMatch(/unknown action/)
    expect(usage(() => translateDsmC(['stray'])).message).toMatch(/unexpected argument/)
  })
})

describe('dsa_query and sendCommand', () => {
  it('translate to agent query', () => {
    expect(translateDsaQuery(['-c', 'GetAgentStatus', 'agentCertHash'])).toEqual(['agent', 'query', '--', 'GetAgentStatus', 'agentCertHash'])
    expect(translateDsaQuery(['--cmd=GetHostInfo', '--dsa-core', '/d'])).toEqual(['agent', 'query', '--dsa-core', '/d', '--', 'GetHostInfo'])
    expect(translateDsaQuery(['-r', 'GetAgentStatus', '-p', 'pw'])).toEqual(['agent', 'query', '--raw', '--', 'GetAgentStatus'])
    expect(translateSendCommand(['--get', 'GetConfiguration'])).toEqual(['agent', 'query', '--xml', '--', 'GetConfiguration'])
    expect(translateSendCommand(['--cmd', 'GetAgentStatus'])).toEqual(['agent', 'query', '--', 'GetAgentStatus'])
    expect(usage(() => translateDsaQuery([])).message).toMatch(/no command given/)
    expect(usage(() => translateDsaQuery(['-c', 'GetAgentStatus', 'a', 'b'])).message).toMatch(/unexpected argument "b"/)
    expect(usage(() => translateDsaQuery(['-x', 'y'])).message).toMatch(/unknown option/)
    expect(usage(() => translateSendCommand(['--get', 'GetAgentStatus'])).message).toMatch(/--get supports GetConfiguration/)
  })

  it('PATTERN matches field names case-insensitively with * as a wildcard', () => {
    const fields: Array<[string, string]> = [['AgentStatus.agentCertHash', 'a'], ['AgentStatus.agentState', 'green'], ['ComponentInfo.AM', 'x'], ['AgentStatus.dsmUrl', 'u']]
    expect(filterFields(fields, 'agentcerthash').map(([n]) => n)).toEqual(['AgentStatus.agentCertHash'])
    expect(filterFields(fields, 'AM*').map(([n]) => n)).toEqual(['ComponentInfo.AM'])
    expect(filterFields(fields, 'agent*').map(([n]) => n)).toEqual(['AgentStatus.agentCertHash', 'AgentStatus.agentState'])
    expect(filterFields(fields, 'AgentStatus.dsm*').map(([n]) => n)).toEqual(['AgentStatus.dsmUrl'])
    expect(filterFields(fields, 'nothing')).toEqual([])
  })
})

describe('status lines and exit codes', () => {
  it('agree: 0 exactly on 200, one class per status range, new statuses need no table entry', () => {
    expect(statusLine(200)).toBe('HTTP Status: 200 - OK')
    expect(statusLine(403, 'reset agent first')).toBe('HTTP Status: 403 - Forbidden - reset agent first')
    const exits = Object.fromEntries([400, 401, 403, 409, 429, 503, 502, 418].map((s) => [s, ExitCode[failureForStatus(s)]]))
    expect(exits).toEqual({400: 2, 401: 5, 403: 4, 409: 4, 429: 4, 503: 6, 502: 6, 418: 4})
    expect(statusForFailure(new TetherError('unreachable', 'x', 'y'))).toBe(503)
    expect(statusForFailure(new TetherError('usage', 'x', 'y'))).toBe(400)
    expect(statusForFailure(new TetherError('trust', 'x', 'y'))).toBe(401)
    expect(statusForFailure(new TetherError('refused', 'x', 'y', {details: {httpStatus: 429}}))).toBe(429)
  })
})

describe('proxy settings', () => {
  it('parse dsm_proxy:// URLs (IPv6 in brackets) and USER:PASSWORD', () => {
    expect(parseProxyUrl('dsm_proxy://proxy.example:3128/', 'dsm_proxy')).toEqual({host: 'proxy.example', port: 3128, url: 'dsm_proxy://proxy.example:3128/'})
    expect(parseProxyUrl('DSM_PROXY://[::1]:8080', 'dsm_proxy')).toEqual({host: '::1', port: 8080, url: 'dsm_proxy://[::1]:8080/'})
    expect(() => parseProxyUrl('http://p:1/', 'dsm_proxy')).toThrow(/not a proxy URL/)
    expect(() => parseProxyUrl('dsm_proxy://p/', 'dsm_proxy')).toThrow(/not a proxy URL/)
    expect(parseProxyAuth('alice:pa:ss')).toEqual({user: 'alice', password: 'pa:ss'})
    expect(() => parseProxyAuth('alice')).toThrow(/USER:PASSWORD/)
  })
})

describe('zip writer', () => {
  it('writes an archive unzip and Python list and test, with UTF-8 names', () => {
    const file = path.join(tempDir(), 'a.zip')
    const big = 'x'.repeat(100_000)
    fs.writeFileSync(file, buildZip([{name: 'status.json', data: '{"a":1}\n'}, {name: 'log/ds_agent.log', data: big}, {name: 'über.txt', data: Buffer.from([0, 1, 2])}]))
    const listing = execFileSync('unzip', ['-l', file], {encoding: 'utf8'})
    expect(listing).toMatch(/status\.json/)
    expect(listing).toMatch(/log\/ds_agent\.log/)
    expect(execFileSync('unzip', ['-tq', file], {encoding: 'utf8'})).toMatch(/No errors detected/)
    const names = execFileSync('python3', ['-c', 'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); print(z.testzip()); print("|".join(z.namelist())); print(len(z.read("log/ds_agent.log")))', file], {encoding: 'utf8'}).trim().split('\n')
    expect(names).toEqual(['None', 'status.json|log/ds_agent.log|über.txt', '100000'])
  })
})

describe('the README classic-syntax section', () => {
  it("prints tether's own bootstrap certificate hashes, as scripts comparing agentCertHash need them", async () => {
    const {bootstrapIdentity} = await import('../src/pki/bootstrap.js')
    const readme = fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('## Classic syntax'), readme.indexOf('## Exit codes'))
    expect(section).toContain(`\`${bootstrapIdentity().sha1}\``)
    expect(section).toContain(`\`${bootstrapIdentity().sha256}\``)
    for (const word of ['RecommendationScan', 'AntiMalwareManualScan', 'AntiMalwareCancelManualScan', 'IntegrityScan', 'RebuildBaseline', 'UpdateComponent', '--buildBaseline', '--scanForChanges', 'tenantPassword', 'relayState', 'new computer']) {
      expect(section, word).toContain(word)
    }
  })
})

describe('the classic parsers never fail but with a usage error (property-based)', () => {
  const token = fc.oneof(
    fc.constantFrom('-a', '-r', '-m', '-d', '-s', '-p', '-t', '-x', '-u', '-y', '-w', '-b', '-c', '-g', '-R', '--activate=', '--reset', '--json', '--dsa-core', '--max-dsm-retries', '-action', '-name', '-value', '-output', '-computername', '--', '-', ':', 'policyid:4', 'dsm://h:1/'),
    fc.string({maxLength: 12}),
  )
  const argv = fc.array(token, {maxLength: 8})
  for (const [name, parse] of [['dsa_control', translateDsaControl], ['dsm_c', translateDsmC], ['dsa_query', translateDsaQuery], ['sendCommand', translateSendCommand]] as const) {
    it(name, () => {
      fc.assert(fc.property(argv, (args) => {
        try {
          const out = parse(args)
          return Array.isArray(out) && out.every((a) => typeof a === 'string')
        } catch (error) {
          return error instanceof TetherError && error.failure === 'usage' && error.message.startsWith(`${name}`)
        }
      }), {numRuns: 300})
    })
  }
})
