/**
 * Named crash points for crash-safety tests: when $TETHER_FAILPOINT names this point, the process
 * kills itself with SIGKILL right here, as a power cut or OOM kill would. Inert otherwise.
 */

let wholeDies: (() => void) | undefined

/**
 * In a process that is one of several making one daemon (a listener worker of `manager start
 * --workers N`): how all of them die at a failpoint, as a power cut takes them all.
 */
export function onFailpoint(die: () => void): void {
  wholeDies = die
}

export function failpoint(name: string): void {
  if (process.env.TETHER_FAILPOINT !== name) return
  wholeDies?.()
  process.kill(process.pid, 'SIGKILL')
}
