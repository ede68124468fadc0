#!/usr/bin/env node
// The commands with a direct path (src/compat/direct.ts) run without loading oclif, most of a cold start.
import {runTether} from '../dist/compat/direct.js'

await runTether(process.argv.slice(2), import.meta.url)
