import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: integration tests spawn CLIs and TLS peers, more workers only thrash.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
})
