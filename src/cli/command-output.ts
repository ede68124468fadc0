/**
 * Where a command shared by oclif and the direct path prints: human lines go through `log` and
 * `logToStderr`, which drop them under --json as a command's log does.
 */
export interface CommandOutput {
  log(line: string): void
  logToStderr(line: string): void
  json: boolean
}
