// A V8 CPU profile of part of this process (the same .cpuprofile `node --cpu-prof` writes, same
// 1 ms default sampling), for benchmarks where this process is the manager: only the timed part is
// profiled, not the setup. Read it with bench/profile-summary.js or Chrome DevTools.
import fs from 'node:fs'
import {Session} from 'node:inspector/promises'
import path from 'node:path'

export async function startProfiler() {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  return {
    /** Stop, write the profile to `file`, return the file. */
    async stop(file) {
      const {profile} = await session.post('Profiler.stop')
      session.disconnect()
      fs.mkdirSync(path.dirname(file), {recursive: true})
      fs.writeFileSync(file, JSON.stringify(profile))
      return file
    },
  }
}
