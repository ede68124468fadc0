import {runListenerWorker} from './listener-worker.js'
import {WORKER_CONFIG_ENV, type WorkerConfig} from './workers.js'

// The entry point of a listener worker (workers.ts forks it with its configuration in the environment).
await runListenerWorker(JSON.parse(process.env[WORKER_CONFIG_ENV] ?? '{}') as WorkerConfig)
