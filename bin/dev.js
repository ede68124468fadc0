#!/usr/bin/env node
// Development entry: oclif runs the TypeScript sources when a TS loader is available, else dist/.
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
