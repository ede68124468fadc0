// Cold start of the CLI entry points against `node -e 0` (the floor any Node CLI pays), measured
// interleaved in the same run so machine noise hits every command alike. Goals (issue 15): the
// classic executables within 1.5x `node -e 0`, `tether --help` and `tether agent status` within 2.3x.
//
// `dsa_control -r` resets a fresh dsa_core (a new, empty directory each run: a just-installed
// agent). `dsa_control -m` and `dsa_query -c GetAgentStatus` ask an activated agent of a running
// lab (`tether lab up --agents 1`: a manager and one agent daemon on loopback, stopped at the end):
// -m's time includes the heartbeat the agent then sends to the manager, measured alone as the
// `heartbeat via the running agent` row (the control-socket request from a process already
// started). Runs per command: 15 (quick: 5).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {spawnSync} from 'node:child_process'
import {performance} from 'node:perf_hooks'
import {pathToFileURL} from 'node:url'

import {median, percentile, round, timeCommand} from './lib.js'

export const name = 'cold-start'

const GOAL_CLASSIC = 1.5
const GOAL_TETHER = 2.3

export async function run({root, quick = false, runs = quick ? 5 : 15}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-'))
  try {
    const env = {...process.env, NO_COLOR: '1', TETHER_MANAGER_HOME: path.join(work, 'manager'), TETHER_DSA_CORE: path.join(work, 'agent', 'dsa_core')}
    timeCommand(process.execPath, [path.join(root, 'bin/run.js'), 'manager', 'init', '--hostname', 'localhost'], {env})
    const output = path.join(work, 'ds_agent_dsm.crt')
    let fresh = 0
    const freshCore = () => {
      const dir = path.join(work, 'fresh', String(fresh++), 'dsa_core')
      fs.mkdirSync(dir, {recursive: true})
      return {...env, TETHER_DSA_CORE: dir}
    }

    const bin = (file) => path.join(root, 'bin', file)
    const lab = path.join(work, 'lab')
    const labUp = spawnSync(process.execPath, [bin('run.js'), 'lab', 'up', '--agents', '1', '--dir', lab, '--json'], {encoding: 'utf8', env: {...env, XDG_STATE_HOME: path.join(work, 'state')}})
    if (labUp.status !== 0) throw new Error(`tether lab up failed: ${labUp.stderr}`)
    const labAgent = {...env, TETHER_DSA_CORE: JSON.parse(labUp.stdout).agents[0].dsaCore}
    const cases = [
      {command: 'node -e 0', args: ['-e', '0']},
      {command: 'tether --help', args: [bin('run.js'), '--help'], goal: GOAL_TETHER},
      {command: 'tether agent status --json', args: [bin('run.js'), 'agent', 'status', '--json'], goal: GOAL_TETHER},
      {command: 'dsm_c -action exportdsmcert', args: [bin('dsm_c'), '-action', 'exportdsmcert', '-output', output], goal: GOAL_CLASSIC},
      {command: 'dsa_control -r (fresh dsa_core)', args: [bin('dsa_control'), '-r'], env: freshCore, goal: GOAL_CLASSIC},
      {command: 'dsa_control -m (running agent)', args: [bin('dsa_control'), '-m'], env: () => labAgent, goal: GOAL_CLASSIC},
      {command: 'dsa_query -c GetAgentStatus (activated)', args: [bin('dsa_query'), '-c', 'GetAgentStatus'], env: () => labAgent, goal: GOAL_CLASSIC},
    ]

    const envOf = (c) => (c.env ? c.env() : env)
    const samples = new Map(cases.map((c) => [c.command, []]))
    for (const c of cases) timeCommand(process.execPath, c.args, {env: envOf(c)}) // warm the file cache once
    for (let i = 0; i < runs; i++) {
      for (const c of cases) samples.get(c.command).push(timeCommand(process.execPath, c.args, {env: envOf(c)}))
    }

    // The heartbeat -m asks for, alone: the same control request from this (already started) process.
    const {askDaemon} = await import(pathToFileURL(path.join(root, 'dist/agent/control.js')).href)
    const heartbeats = []
    for (let i = 0; i < runs; i++) {
      const start = performance.now()
      const reply = await askDaemon(labAgent.TETHER_DSA_CORE, {op: 'heartbeat'})
      if (!reply?.ok) throw new Error(`heartbeat via the running agent failed: ${JSON.stringify(reply)}`)
      heartbeats.push(performance.now() - start)
    }

    const baseline = median(samples.get('node -e 0'))
    const heartbeatRow = {command: 'heartbeat via the running agent (no start-up)', runs, median_ms: round(median(heartbeats), 1), p90_ms: round(percentile(heartbeats, 90), 1), vs_node: round(median(heartbeats) / baseline, 2), over_node_ms: '-', goal: '-'}
    const rows = cases.map((c) => {
      const s = samples.get(c.command)
      const ratio = median(s) / baseline
      return {
        command: c.command,
        runs: s.length,
        median_ms: round(median(s), 1),
        p90_ms: round(percentile(s, 90), 1),
        vs_node: round(ratio, 2),
        over_node_ms: round(median(s) - baseline, 1),
        goal: c.goal ? `${ratio <= c.goal ? 'met' : 'missed'} (<=${c.goal}x)` : '-',
      }
    })
    return [...rows, heartbeatRow]
  } finally {
    spawnSync(process.execPath, [path.join(root, 'bin/run.js'), 'lab', 'down', '--dir', path.join(work, 'lab')], {env: {...process.env, XDG_STATE_HOME: path.join(work, 'state')}})
    fs.rmSync(work, {recursive: true, force: true})
  }
}
