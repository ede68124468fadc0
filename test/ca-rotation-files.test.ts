import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {ROTATION_FILES, readRotation, readRotationFile} from '../src/manager/ca-rotation-files.js'
import {activateRotation, finishInterruptedRetire, prepareRotation} from '../src/manager/ca-rotation.js'
import {ManagerHome, initManagerHome} from '../src/manager/home.js'
import {fingerprint, issuedBy} from '../src/pki/certificate.js'
import {keyMatchesCertificate} from '../src/pki/keys.js'
import {PRIVATE_FILE_MODE, removeFileDurable, writeFileAtomic} from '../src/platform/fsutil.js'
import {tempDir} from './helpers.js'

/**
 * Retire, killed between any two of its writes: the home loads at every point with the new CA as
 * the only one (its key matching), and whoever finds it next finishes the retire.
 */

async function activeHome(): Promise<{home: ManagerHome; newCaSha256: string; copy: (to: string) => ManagerHome}> {
  const dir = path.join(tempDir('tether-rotation-'), 'manager')
  const home = await initManagerHome(dir, {hostnames: ['localhost']})
  const ctx = await home.open()
  try {
    await prepareRotation(home, ctx)
    await activateRotation(home, ctx)
    return {
      home,
      newCaSha256: fingerprint(ctx.credentials.caCert),
      copy: (to) => {
        fs.cpSync(dir, to, {recursive: true})
        return new ManagerHome(to)
      },
    }
  } finally {
    await ctx.close()
  }
}

/** Retire's writes in order, as `finishRetire` makes them after writing the phase `retiring`. */
const STEPS: Array<(home: ManagerHome) => void> = [
  (home) => writeFileAtomic(home.file('caKey'), readRotationFile(home.dir, 'nextKey')!, PRIVATE_FILE_MODE),
  (home) => writeFileAtomic(home.file('caCert'), readRotationFile(home.dir, 'nextCert')!),
  (home) => removeFileDurable(path.join(home.dir, ROTATION_FILES.cross)),
  (home) => removeFileDurable(path.join(home.dir, ROTATION_FILES.nextKey)),
  (home) => removeFileDurable(path.join(home.dir, ROTATION_FILES.nextCert)),
]

describe('CA rotation retire, interrupted', () => {
  it('loads at every crash point with only the new CA, and is finished by the next one to find it', async () => {
    const {home, newCaSha256, copy} = await activeHome()
    const state = JSON.parse(fs.readFileSync(path.join(home.dir, ROTATION_FILES.state), 'utf8'))
    for (let done = 0; done <= STEPS.length; done++) {
      const crashed = copy(path.join(tempDir('tether-rotation-crash-'), 'manager'))
      fs.writeFileSync(path.join(crashed.dir, ROTATION_FILES.state), JSON.stringify({...state, phase: 'retiring'}))
      for (const step of STEPS.slice(0, done)) step(crashed)

      const loaded = crashed.loadCredentials()
      expect(fingerprint(loaded.caCert), `after ${done} writes`).toBe(newCaSha256)
      expect(loaded.trustedCas.map((ca) => fingerprint(ca)), `after ${done} writes`).toEqual([newCaSha256])
      expect(keyMatchesCertificate(loaded.caKey, loaded.caCert), `after ${done} writes`).toBe(true)
      expect(issuedBy(loaded.managerCert, loaded.caCert)).toBe(true)
      expect(loaded.rotation).toBeUndefined()

      finishInterruptedRetire(crashed)
      expect(readRotation(crashed.dir)).toBeUndefined()
      for (const name of [ROTATION_FILES.cross, ROTATION_FILES.nextCert, ROTATION_FILES.nextKey]) expect(fs.existsSync(path.join(crashed.dir, name))).toBe(false)
      const finished = crashed.loadCredentials()
      expect(fingerprint(finished.caCert)).toBe(newCaSha256)
      expect(fs.statSync(crashed.file('caKey')).mode & 0o777).toBe(0o600)
    }
  }, 60_000)

  it('refuses a home whose new CA key is missing mid-rotation, naming the file', async () => {
    const {home} = await activeHome()
    fs.rmSync(path.join(home.dir, ROTATION_FILES.nextKey))
    expect(() => home.loadCredentials()).toThrow(/ca-next\.key is missing while a CA rotation is active/)
  }, 60_000)
})
