/**
 * A worker process as `src/main.ts worker` starts it (createServices + startWorker, real Redis, real
 * BullMQ), on the Baileys transport whose sockets are ServerFedSocket stand-ins (no internet). Spawned by
 * tests with spawnTs. Env: as the service, plus TB_TEST_TIMINGS (ownership timings, JSON), TB_TEST_SESSION
 * (the session its sockets serve) and TB_TEST_PAUSE_IN_DECRYPT (a message id: the process stops itself with
 * SIGSTOP between loading and storing that message's Signal session, the worst moment for a long pause).
 */
import { systemClock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { createLogger } from '../../src/log.js'
import { resolveRulesPath } from '../../src/rules/load.js'
import { createServices } from '../../src/services.js'
import { startWorker } from '../../src/worker/worker.js'
import { ServerFedSocket } from './wa-server.js'

const env = parseEnv(process.env)
const log = createLogger({ level: env.LOG_LEVEL, format: 'json' })
const sessionId = process.env.TB_TEST_SESSION ?? ''
const pauseAt = process.env.TB_TEST_PAUSE_IN_DECRYPT
const report = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`)

const services = await createServices({
  env,
  log,
  clock: systemClock,
  rulesPath: resolveRulesPath(env.TICKBRIDGE_RULES, process.cwd()).path,
  watchRules: false,
})
const worker = await startWorker(services, {
  timings: JSON.parse(process.env.TB_TEST_TIMINGS ?? '{}'),
  baileys: {
    waVersion: async () => undefined,
    socketFactory: (config) =>
      new ServerFedSocket(config, {
        redisUrl: env.REDIS_URL,
        keys: services.keys,
        sessionId,
        report,
        midDecrypt: (id) => {
          if (id !== pauseAt) return
          report({ msg: 'fake-wa pausing mid-decrypt', id, pid: process.pid })
          process.kill(process.pid, 'SIGSTOP')
        },
      }),
  },
})
process.on('SIGTERM', () => {
  void (async () => {
    await worker.close()
    await services.close()
    process.exit(0)
  })()
})
