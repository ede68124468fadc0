import fs from 'node:fs'
import path from 'node:path'

import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {ROOT, tempDir} from './helpers.js'

describe('oclif.manifest.json', () => {
  it('matches what `oclif manifest` generates from the built commands', async () => {
    // oclif manifest deletes the manifest in its cwd, so generate in a scratch copy of the package.
    const scratch = tempDir()
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(scratch, 'package.json'))
    fs.cpSync(path.join(ROOT, 'dist'), path.join(scratch, 'dist'), {recursive: true})
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(scratch, 'node_modules'))
    await execa(process.execPath, [path.join(ROOT, 'node_modules', 'oclif', 'bin', 'run.js'), 'manifest', '.'], {cwd: scratch})
    const fresh = JSON.parse(fs.readFileSync(path.join(scratch, 'oclif.manifest.json'), 'utf8'))
    const committed = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8'))
    expect(committed, 'oclif.manifest.json is stale: run `npm run build && npm run manifest` and commit it').toEqual(fresh)
  })
})
