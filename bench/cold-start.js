// Cold start of the CLI entry points against `node -e 0` (the floor any Node CLI pays), measured
// interleaved in the same run so machine noise hits every command alike.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {median, percentile, round, timeCommand} from './lib.js'

export const name = 'cold-start'

export async function run({root, runs = 15}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-'))
  const env = {...process.env, NO_COLOR: '1', TETHER_MANAGER_HOME: path.join(work, 'manager'), TETHER_DSA_CORE: path.join(work, 'agent', 'dsa_core')}
  timeCommand(process.execPath, [path.join(root, 'bin/run.js'), 'manager', 'init', '--hostname', 'localhost'], {env})
  const output = path.join(work, 'ds_agent_dsm.crt')

  const cases = [
    {command: 'node -e 0', args: ['-e', '0']},
    {command: 'tether --help', args: [path.join(root, 'bin/run.js'), '--help']},
    {command: 'tether agent status --json', args: [path.join(root, 'bin/run.js'), 'agent', 'status', '--json']},
    {command: 'dsm_c -action exportdsmcert', args: [path.join(root, 'bin/dsm_c'), '-action', 'exportdsmcert', '-output', output]},
  ]
  const samples = new Map(cases.map((c) => [c.command, []]))
  for (const c of cases) timeCommand(process.execPath, c.args, {env}) // warm the file cache once
  for (let i = 0; i < runs; i++) {
    for (const c of cases) samples.get(c.command).push(timeCommand(process.execPath, c.args, {env}))
  }

  fs.rmSync(work, {recursive: true, force: true})
  const baseline = median(samples.get('node -e 0'))
  return cases.map((c) => {
    const s = samples.get(c.command)
    return {
      command: c.command,
      runs: s.length,
      median_ms: round(median(s), 1),
      p90_ms: round(percentile(s, 90), 1),
      vs_node: round(median(s) / baseline, 2),
      over_node_ms: round(median(s) - baseline, 1),
    }
  })
}
