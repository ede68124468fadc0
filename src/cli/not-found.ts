import type {Hook} from '@oclif/core'
// Not the package's index: this hook runs before every command (and `tether --help`, which loads
// nothing else of oclif's index); the index costs a sixth of that start-up.
import {toConfiguredId} from '@oclif/core/util/ids'

/**
 * A misspelt command, when nobody is at a terminal. @oclif/plugin-not-found offers its "Did you
 * mean ...?" only as a prompt on a terminal and, without one, prints no suggestion at all. This
 * init hook answers first in that case: the suggestion, the error (JSON with --json) and exit 127
 * (the shell's "command not found", the plugin's code too). On a terminal it does nothing and the
 * plugin asks.
 */

export const COMMAND_NOT_FOUND_EXIT = 127

function distance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }

    previous = current
  }

  return previous[b.length]
}

export function closestCommand(id: string, ids: string[]): string | undefined {
  let best: {id: string; d: number} | undefined
  for (const candidate of ids) {
    const d = distance(id, candidate)
    if (!best || d < best.d) best = {id: candidate, d}
  }

  return best?.id
}

const hook: Hook.Init = async function ({argv, config, id}) {
  if (!id || id.startsWith('-') || config.findCommand(id) || config.findTopic(id)) return
  // Lazy: what a command not found needs loads only then, not before every command.
  const [{isInteractive}, {TetherError}, {renderFailure}] = await Promise.all([import('./prompt.js'), import('../errors.js'), import('./render-failure.js')])
  if (isInteractive()) return
  // Topics too, so that `tether managr --help` suggests `tether manager`.
  const ids = [
    ...config.commands.filter((command) => !command.hidden).flatMap((command) => [command.id, ...command.aliases]),
    ...config.topics.filter((topic) => !topic.hidden).map((topic) => topic.name),
  ]
  const suggestion = closestCommand(id, ids)
  const typed = toConfiguredId(id, config)
  const shown = suggestion ? `${config.bin} ${toConfiguredId(suggestion, config)}` : undefined
  const list = `\`${config.bin} help\` lists every command`
  const failure = new TetherError('usage', 'command-not-found', `${typed} is not a ${config.bin} command`, {
    hint: shown ? `did you mean \`${shown}\`? (${list})` : list,
    details: shown ? {suggestion: shown} : undefined,
  })
  const options = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv
  renderFailure(failure, {json: options.includes('--json'), exitCode: COMMAND_NOT_FOUND_EXIT})

  this.exit(COMMAND_NOT_FOUND_EXIT)
}

export default hook
