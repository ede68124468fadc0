// `npm run bench [-- NAME ...]`: run the benchmarks, print each as a table and all as one JSON
// document (also written to bench/results/latest.json). Speed is measured here, never in tests.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {printTable} from './lib.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const modules = ['cold-start', 'activation', 'heartbeat', 'cms']
const selected = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const unknown = selected.filter((name) => !modules.includes(name))
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')}; available: ${modules.join(', ')}`)
  process.exit(2)
}

const results = {machine: {node: process.version, cpus: os.cpus().length, model: os.cpus()[0]?.model, date: new Date().toISOString()}, benchmarks: {}}
for (const name of selected.length > 0 ? selected : modules) {
  const bench = await import(`./${name}.js`)
  const rows = await bench.run({root})
  results.benchmarks[name] = rows
  printTable(name, rows)
}

fs.mkdirSync(path.join(root, 'bench', 'results'), {recursive: true})
fs.writeFileSync(path.join(root, 'bench', 'results', 'latest.json'), JSON.stringify(results, null, 2))
console.log(`\n${JSON.stringify(results, null, 2)}`)
