import {TetherError} from '../errors.js'

/**
 * The classic tools take `-name value` options whose names are case-insensitive (`-Value` and
 * `-value` both appear in real provisioning scripts). `--json` passes through untouched.
 */
export interface ClassicOptions {
  options: Map<string, string>
  json: boolean
}

export function parseClassicOptions(argv: string[], tool: string, flagsWithoutValue: string[] = []): ClassicOptions {
  const options = new Map<string, string>()
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--json' || arg.toLowerCase() === '-json') {
      json = true
      continue
    }

    if (!arg.startsWith('-') || arg === '-') {
      throw new TetherError('usage', 'classic-usage', `${tool}: unexpected argument "${arg}"`, {hint: `options are written -name value; run \`${tool} -h\``})
    }

    const name = arg.replace(/^--?/, '').toLowerCase()
    if (flagsWithoutValue.includes(name)) {
      options.set(name, 'true')
      continue
    }

    const value = argv[i + 1]
    // A value may itself start with a dash (`-value -1`), but never looks like a known option name.
    if (value === undefined || /^--?[a-z]{2,}$/i.test(value)) {
      throw new TetherError('usage', 'classic-usage', `${tool}: option -${name} needs a value`, {hint: `run \`${tool} -h\``})
    }

    if (options.has(name)) {
      throw new TetherError('usage', 'classic-usage', `${tool}: option -${name} is given twice`, {hint: `give each option once; run \`${tool} -h\``})
    }

    options.set(name, value)
    i++
  }

  return {options, json}
}
