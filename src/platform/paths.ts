import os from 'node:os'
import path from 'node:path'

/** Where state lives, resolved the same way by `tether`, `dsm_c` and `dsa_control`. */

export type Platform = 'linux' | 'windows'

export const MANAGER_HOME_ENV = 'TETHER_MANAGER_HOME'
export const DSA_CORE_ENV = 'TETHER_DSA_CORE'

export const DEFAULT_AGENT_PORT = 4118
export const DEFAULT_MANAGER_PORT = 4120

export function currentPlatform(): Platform {
  return process.platform === 'win32' ? 'windows' : 'linux'
}

/** Directory of the agent's dsa_core on each platform, as the product documents it. */
export function defaultDsaCore(platform: Platform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === 'windows') {
    const programData = env.ProgramData || env.PROGRAMDATA || 'C:\\ProgramData'
    return path.win32.join(programData, 'Trend Micro', 'Deep Security Agent', 'dsa_core')
  }

  return path.posix.join('/var/opt/ds_agent', 'dsa_core')
}

/** --dsa-core, else $TETHER_DSA_CORE, else the platform path. */
export function resolveDsaCore(
  flag: string | undefined,
  options: {platform?: Platform; env?: NodeJS.ProcessEnv} = {},
): string {
  const env = options.env ?? process.env
  if (flag) return path.resolve(flag)
  if (env[DSA_CORE_ENV]) return path.resolve(env[DSA_CORE_ENV] as string)
  return defaultDsaCore(options.platform ?? currentPlatform(), env)
}

/** Per-user default for the manager home: XDG data dir on Linux, %LOCALAPPDATA% on Windows. */
export function defaultManagerHome(env: NodeJS.ProcessEnv = process.env, platform: Platform = currentPlatform()): string {
  if (platform === 'windows') {
    const base = env.LOCALAPPDATA || path.win32.join(os.homedir(), 'AppData', 'Local')
    return path.win32.join(base, 'tether', 'manager')
  }

  const base = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share')
  return path.join(base, 'tether', 'manager')
}

/** --home, else $TETHER_MANAGER_HOME, else the per-user default. */
export function resolveManagerHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return path.resolve(flag)
  if (env[MANAGER_HOME_ENV]) return path.resolve(env[MANAGER_HOME_ENV] as string)
  return defaultManagerHome(env)
}

/** Per-user state tether keeps outside any home (the last lab started): XDG state dir, %LOCALAPPDATA%. */
export function defaultLabPointer(env: NodeJS.ProcessEnv = process.env, platform: Platform = currentPlatform()): string {
  if (platform === 'windows') {
    const base = env.LOCALAPPDATA || path.win32.join(os.homedir(), 'AppData', 'Local')
    return path.win32.join(base, 'tether', 'lab-dir')
  }

  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state')
  return path.join(base, 'tether', 'lab-dir')
}
