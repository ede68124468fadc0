import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {fileMode, writeFileAtomic} from '../src/platform/fsutil.js'
import {defaultDsaCore, defaultManagerHome, resolveDsaCore, resolveManagerHome} from '../src/platform/paths.js'
import {tempDir} from './helpers.js'

describe('paths', () => {
  it('gives the documented dsa_core on each platform', () => {
    expect(defaultDsaCore('linux')).toBe('/var/opt/ds_agent/dsa_core')
    expect(defaultDsaCore('windows', {})).toBe('C:\\ProgramData\\Trend Micro\\Deep Security Agent\\dsa_core')
    expect(defaultDsaCore('windows', {ProgramData: 'D:\\PD'})).toBe('D:\\PD\\Trend Micro\\Deep Security Agent\\dsa_core')
  })

  it('prefers the flag, then the environment, then the default', () => {
    expect(resolveDsaCore('/a/dsa_core', {env: {TETHER_DSA_CORE: '/b'}, platform: 'linux'})).toBe('/a/dsa_core')
    expect(resolveDsaCore(undefined, {env: {TETHER_DSA_CORE: '/b/dsa_core'}, platform: 'linux'})).toBe('/b/dsa_core')
    expect(resolveDsaCore(undefined, {env: {}, platform: 'linux'})).toBe('/var/opt/ds_agent/dsa_core')
    expect(resolveManagerHome('/m', {TETHER_MANAGER_HOME: '/n'})).toBe('/m')
    expect(resolveManagerHome(undefined, {TETHER_MANAGER_HOME: '/n'})).toBe('/n')
    expect(resolveManagerHome(undefined, {XDG_DATA_HOME: '/x'})).toBe('/x/tether/manager')
    expect(defaultManagerHome({LOCALAPPDATA: 'C:\\Users\\op\\AppData\\Local'}, 'windows')).toBe('C:\\Users\\op\\AppData\\Local\\tether\\manager')
  })
})

describe('atomic files', () => {
  it('writes with the exact mode and leaves no temporary file', () => {
    const dir = tempDir()
    const file = path.join(dir, 'secret.key')
    writeFileAtomic(file, 'one', 0o600)
    writeFileAtomic(file, 'two', 0o600)
    expect(fs.readFileSync(file, 'utf8')).toBe('two')
    expect(fileMode(file)).toBe(0o600)
    expect(fs.readdirSync(dir)).toEqual(['secret.key'])
  })

  it('keeps the old content when the write fails', () => {
    const dir = tempDir()
    const file = path.join(dir, 'data')
    writeFileAtomic(file, 'old')
    expect(() => writeFileAtomic(path.join(dir, 'missing', 'data'), 'new')).toThrow()
    expect(fs.readFileSync(file, 'utf8')).toBe('old')
  })
})
