// A pool of pre-generated RSA-2048 agent key pairs, kept between runs in
// bench/results/cache/ (0600, git-ignored), so key generation is neither measured nor waited for:
// each benchmark's agents take distinct keys from it (`take(count)` hands out consecutive slices).
// The keys belong to simulated agents of throwaway benchmark installations and nothing else.
import fs from 'node:fs'
import path from 'node:path'

import {generateRsaKeyPair} from '../dist/pki/keys.js'

const FILE = 'agent-keys-rsa2048.json'

/** Ensure the pool holds at least `size` keys; returns {file, take(count) -> offset}. */
export async function keyPool(root, size) {
  const dir = path.join(root, 'bench', 'results', 'cache')
  const file = path.join(dir, FILE)
  fs.mkdirSync(dir, {recursive: true, mode: 0o700})
  let keys = []
  try {
    keys = JSON.parse(fs.readFileSync(file, 'utf8')).keys ?? []
  } catch {
    // none yet (or unreadable): generated below
  }

  if (keys.length < size) {
    const missing = size - keys.length
    console.log(`key pool: generating ${missing} RSA-2048 agent key pairs once (kept in ${path.relative(root, file)})`)
    keys.push(...(await Promise.all(Array.from({length: missing}, () => generateRsaKeyPair(2048)))))
    const temporary = `${file}.${process.pid}.tmp`
    fs.writeFileSync(temporary, JSON.stringify({keys}), {mode: 0o600})
    fs.renameSync(temporary, file)
  }

  let next = 0
  return {
    file,
    size: keys.length,
    /** The offset of `count` keys no other caller of this pool got in this run (wrapping round). */
    take(count) {
      if (count > keys.length) throw new Error(`the key pool holds ${keys.length} keys, ${count} asked for`)
      if (next + count > keys.length) next = 0
      const offset = next
      next += count
      return offset
    },
  }
}
