#!/usr/bin/env node
// The commands with a direct path (src/compat/direct.ts) run without loading oclif, most of a cold start.
import {runDirect} from '../dist/compat/direct.js'

if (!(await runDirect(process.argv.slice(2)))) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
