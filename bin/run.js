#!/usr/bin/env node
// The commands with a direct path (src/compat/direct.ts) run without loading oclif, most of a cold start.
import {runDirect} from '../dist/compat/direct.js'

if (!(await runDirect(process.argv.slice(2)))) {
  // oclif's execute alone, not its index: a command class loads the index when it runs, help needs less.
  const {execute} = await import('@oclif/core/execute')
  await execute({dir: import.meta.url})
}
