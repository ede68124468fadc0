import {execFileSync} from 'node:child_process'
import fs from 'node:fs'

/**
 * A pid alone does not name a process for long: once it exits the kernel hands the number to
 * another. With its start time it does, so a recorded process is signalled only if it is still
 * the one recorded.
 */

/**
 * When the process started: on Linux the `starttime` field of /proc/PID/stat (clock ticks since
 * boot, field 22, counted after the parenthesised command name, which may hold spaces), elsewhere
 * what `ps -o lstart=` prints. Undefined when there is no such process (or only its zombie).
 */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      // Fields after "pid (comm) " start at field 3 (state); starttime is field 22.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // A zombie has exited already (it only waits for its parent to reap it).
      return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19]
    } catch {
      return undefined
    }
  }

  try {
    return execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim() || undefined
  } catch {
    return undefined
  }
}

/** Whether `pid` is still the process that had `startTime` (never true without a start time). */
export function isSameProcess(pid: number, startTime: string | undefined): boolean {
  return startTime !== undefined && processStartTime(pid) === startTime
}
