import {TetherError, isTetherError} from '../errors.js'
import {renderFailure} from '../cli/render-failure.js'
import {exportManagerCertificate, ManagerHome} from '../manager/home.js'
import {resolveManagerHome} from '../platform/paths.js'

/**
 * Translated classic commands that run without oclif: loading it is most of a cold start, and
 * provisioning scripts call these once per machine. Each prints exactly what its tether command
 * prints (text, --json, failures and exit codes); anything else goes through oclif.
 */

interface Parsed {
  values: Map<string, string>
  json: boolean
}

/** `--name value` pairs and `--json`, only of the names given; undefined for anything else. */
function parseOnly(args: string[], names: string[]): Parsed | undefined {
  const values = new Map<string, string>()
  let json = false
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--json') json = true
    // A value oclif might read as a flag is left to oclif, which decides what it is.
    else if (names.includes(args[i]) && i + 1 < args.length && !args[i + 1].startsWith('-') && !values.has(args[i])) values.set(args[i], args[++i])
    else return undefined
  }

  return {values, json}
}

/** `tether manager export-cert --output FILE [--home DIR] [--json]` (dsm_c -action exportdsmcert); true when run here. */
async function exportCert(args: string[]): Promise<boolean> {
  if (args[0] !== 'manager' || args[1] !== 'export-cert') return false
  const parsed = parseOnly(args.slice(2), ['--output', '--home'])
  const output = parsed?.values.get('--output')
  if (!parsed || output === undefined) return false
  try {
    const result = await exportManagerCertificate(new ManagerHome(resolveManagerHome(parsed.values.get('--home'))), output)
    process.stdout.write(parsed.json ? `${JSON.stringify(result, null, 2)}\n` : `Wrote ${result.file} (SHA-256 ${result.certificate.sha256})\n`)
  } catch (error) {
    // As TetherCommand.catch renders it (toTetherError: nothing here is an oclif parse error).
    const failure = isTetherError(error) ? error : new TetherError('internal', 'internal', (error as Error).message || String(error), {hint: 'this is a bug in tether; rerun with TETHER_DEBUG=1 and report the stack trace', cause: error})
    process.exitCode = renderFailure(failure, {json: parsed.json})
  }

  return true
}

/** Run a translated command directly if it has a direct path; false: oclif runs it. */
export async function runDirect(args: string[]): Promise<boolean> {
  return exportCert(args)
}
