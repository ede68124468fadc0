/**
 * Named crash points for crash-safety tests: when $TETHER_FAILPOINT names this point, the process
 * kills itself with SIGKILL right here, as a power cut or OOM kill would. Inert otherwise. In a
 * worker process of a cluster (`manager start --workers N`, where Node sets NODE_UNIQUE_ID) the
 * primary goes with it: the node dies, as a power cut takes all its processes (the other workers
 * then stop, their primary gone).
 */
export function failpoint(name: string): void {
  if (process.env.TETHER_FAILPOINT !== name) return
  if (process.env.NODE_UNIQUE_ID !== undefined) process.kill(process.ppid, 'SIGKILL')
  process.kill(process.pid, 'SIGKILL')
}
