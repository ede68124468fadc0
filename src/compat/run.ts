import {renderFailure} from '../cli/render-failure.js'
import {TetherError} from '../errors.js'
import {runDirect} from './direct.js'
import {dsaControlUsage, translateDsaControl} from './dsa_control.js'
import {dsaQueryUsage, sendCommandUsage, translateDsaQuery, translateSendCommand} from './dsa_query.js'
import {dsmCUsage, translateDsmC} from './dsm_c.js'

const TOOLS = {
  dsm_c: {translate: translateDsmC, usage: dsmCUsage},
  dsa_control: {translate: translateDsaControl, usage: dsaControlUsage},
  dsa_query: {translate: translateDsaQuery, usage: dsaQueryUsage},
  sendCommand: {translate: translateSendCommand, usage: sendCommandUsage},
} as const

/** Entry of the compatibility executables: translate the classic syntax, then run tether. */
export async function runCompat(tool: keyof typeof TOOLS, argv: string[], dir: string): Promise<void> {
  const {translate, usage} = TOOLS[tool]
  let args: string[]
  try {
    args = translate(argv)
  } catch (error) {
    if (!(error instanceof TetherError)) throw error
    process.exitCode = renderFailure(error, {json: argv.includes('--json'), usage: usage()})
    return
  }

  if (args[0] === '__usage__') {
    process.stdout.write(`${usage()}\n`)
    return
  }

  if (await runDirect(args)) return
  // Lazy: oclif is most of a cold start, and a command with a direct path never needs it.
  const {execute} = await import('@oclif/core')
  await execute({args, dir})
}
