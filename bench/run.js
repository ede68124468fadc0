// `npm run bench [-- [--quick] NAME ...]`: run the benchmarks, print each as a table and all as one
// JSON document (also written to bench/results/latest.json, or latest-quick.json with --quick).
// Speed is measured here, never in tests. --quick: every benchmark small enough that the whole run
// takes a few minutes (pre-generated key pools, synthetic rows, fewer iterations), for a quick check
// of a change; the full run stays the reference.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {printTable} from './lib.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const modules = ['cold-start', 'activation', 'renewal', 'heartbeat', 'registry', 'cms']
const args = process.argv.slice(2)
const options = args.filter((a) => a.startsWith('-'))
const unknownOptions = options.filter((o) => o !== '--quick')
if (unknownOptions.length > 0) {
  console.error(`unknown option: ${unknownOptions.join(', ')}; usage: npm run bench -- [--quick] [${modules.join('|')} ...]`)
  process.exit(2)
}

const quick = options.includes('--quick')
const selected = args.filter((a) => !a.startsWith('-'))
const unknown = selected.filter((name) => !modules.includes(name))
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')}; available: ${modules.join(', ')}`)
  process.exit(2)
}

const started = Date.now()
const results = {machine: {node: process.version, cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg().map((l) => Number(l.toFixed(2))), date: new Date().toISOString()}, mode: quick ? 'quick' : 'full', benchmarks: {}}
for (const name of selected.length > 0 ? selected : modules) {
  const bench = await import(`./${name}.js`)
  const t0 = Date.now()
  const rows = await bench.run({root, quick})
  results.benchmarks[name] = rows
  printTable(`${name}${quick ? ' (quick)' : ''} [${Math.round((Date.now() - t0) / 1000)} s]`, rows)
}

results.seconds = Math.round((Date.now() - started) / 1000)
fs.mkdirSync(path.join(root, 'bench', 'results'), {recursive: true})
fs.writeFileSync(path.join(root, 'bench', 'results', quick ? 'latest-quick.json' : 'latest.json'), JSON.stringify(results, null, 2))
console.log(`\n${JSON.stringify(results, null, 2)}`)
