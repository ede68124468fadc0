import {TetherError} from '../errors.js'
import {runTether, showFailure} from './direct.js'

interface Tool {
  translate(argv: string[]): string[]
  usage(): string
}

// Lazy, each of them: a tool loads only its own translator (a cold start pays for every module loaded).
const TOOLS: Record<'dsm_c' | 'dsa_control' | 'dsa_query' | 'sendCommand', () => Promise<Tool>> = {
  dsm_c: async () => import('./dsm_c.js').then((m) => ({translate: m.translateDsmC, usage: m.dsmCUsage})),
  dsa_control: async () => import('./dsa_control.js').then((m) => ({translate: m.translateDsaControl, usage: m.dsaControlUsage})),
  dsa_query: async () => import('./dsa_query.js').then((m) => ({translate: m.translateDsaQuery, usage: m.dsaQueryUsage})),
  sendCommand: async () => import('./dsa_query.js').then((m) => ({translate: m.translateSendCommand, usage: m.sendCommandUsage})),
}

/** Entry of the compatibility executables: translate the classic syntax, then run tether. */
export async function runCompat(tool: keyof typeof TOOLS, argv: string[], dir: string): Promise<void> {
  const {translate, usage} = await TOOLS[tool]()
  let args: string[]
  try {
    args = translate(argv)
  } catch (error) {
    if (!(error instanceof TetherError)) throw error
    process.exitCode = await showFailure(error, {json: argv.includes('--json'), usage: usage()})
    return
  }

  if (args[0] === '__usage__') {
    process.stdout.write(`${usage()}\n`)
    return
  }

  await runTether(args, dir)
}
