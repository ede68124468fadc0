/**
 * Run a foreground service until SIGINT or SIGTERM, then stop it once. The handlers are installed
 * when this is called, so call it before announcing readiness: a supervisor may signal at once.
 */
export function untilSignalled(stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      void stop().then(resolve)
    }

    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
