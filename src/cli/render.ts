import {Chalk} from 'chalk'

/**
 * Human output. Colour only where the stream is a terminal; chalk's detection honours
 * FORCE_COLOR, and NO_COLOR (https://no-color.org) turns it off whatever the terminal.
 */
function chalkFor(stream: NodeJS.WriteStream): InstanceType<typeof Chalk> {
  const env = process.env
  if ('NO_COLOR' in env && env.NO_COLOR !== '' && !env.FORCE_COLOR) return new Chalk({level: 0})
  if (env.FORCE_COLOR !== undefined) return new Chalk()
  return new Chalk({level: stream.isTTY ? 1 : 0})
}

export const paint = {
  get stdout() {
    return chalkFor(process.stdout)
  },
  get stderr() {
    return chalkFor(process.stderr)
  },
}

/** Aligned `label: value` lines, the shape of every human summary. */
export function fieldLines(fields: Array<[string, unknown]>, indent = ''): string[] {
  const shown = fields.filter(([, value]) => value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0))
  const width = Math.max(0, ...shown.map(([label]) => label.length))
  return shown.map(([label, value]) => `${indent}${`${label}:`.padEnd(width + 1)} ${Array.isArray(value) ? value.join(', ') : String(value)}`)
}
