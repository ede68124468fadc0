/**
 * Named crash points for crash-safety tests: when $TETHER_FAILPOINT names this point, the process
 * kills itself with SIGKILL right here, as a power cut or OOM kill would. Inert otherwise.
 */
export function failpoint(name: string): void {
  if (process.env.TETHER_FAILPOINT === name) process.kill(process.pid, 'SIGKILL')
}
