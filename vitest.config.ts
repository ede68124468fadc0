import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // @oclif/test's runCommand captures stdout itself; vitest's interception would leave it empty.
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: integration tests spawn CLIs and TLS peers, more workers only thrash.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
})
