import type { AddressInfo } from 'node:net'
import { systemClock } from './clock.js'
import { EnvError, parseEnv } from './env.js'
import { buildApp } from './http/app.js'
import { BindError, bindProblems, exposedAddresses, plannedAddresses } from './http/bind-guard.js'
import { drainer } from './http/drain.js'
import { buildOpsApp } from './http/ops-app.js'
import { createLogger, type Logger, resolveLogFormat } from './log.js'
import { assertRedisReachable, RedisAuthError, RedisUnreachableError, redactUrl, redisTls } from './redis.js'
import { resolveRulesPath } from './rules/load.js'
import { RulesError } from './rules/store.js'
import { createServices, dashboardQueues, type Services } from './services.js'
import { RedisSessionGateway } from './whatsapp/command-bus.js'
import { startWorker, type Worker } from './worker/worker.js'

/**
 * Process entry point. Roles: `web` (HTTP API), `worker` (WhatsApp sessions and jobs), `all` (both in
 * one process, for a single machine). Exit codes: 2 = bad configuration, 1 = could not start.
 */
type Role = 'web' | 'worker' | 'all'

async function main(argv: string[]): Promise<void> {
  const role = (argv[0] ?? 'all') as Role
  if (!['web', 'worker', 'all'].includes(role)) {
    process.stderr.write(`Unknown role "${role}". Usage: tickbridge-service [web|worker|all]\n`)
    process.exit(2)
  }

  let env: ReturnType<typeof parseEnv>
  try {
    env = parseEnv(process.env)
  } catch (err) {
    if (err instanceof EnvError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const log = createLogger({
    level: env.LOG_LEVEL,
    format: resolveLogFormat(env.LOG_FORMAT, process.stdout.isTTY),
  })

  const rulesPath = resolveRulesPath(env.TICKBRIDGE_RULES, process.cwd())
  if (rulesPath.fellBackToExample) {
    log.warn(
      { path: rulesPath.path },
      'config/rules.yaml not found: running on the example rules (set TICKBRIDGE_RULES or create config/rules.yaml)',
    )
  }

  try {
    await assertRedisReachable(env.REDIS_URL, undefined, redisTls(env.REDIS_TLS_CA_FILE))
  } catch (err) {
    if (err instanceof RedisUnreachableError || err instanceof RedisAuthError) {
      log.fatal(err.message)
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }

  // The addresses the API binds: a name is judged by what it resolves to now, and by what is bound later.
  let apiAddresses: string[] = []
  if (role !== 'worker') {
    try {
      apiAddresses = await plannedAddresses(env.HOST)
    } catch (err) {
      if (!(err instanceof BindError)) throw err
      log.fatal(err.message)
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    }
  }

  let services: Services
  try {
    services = await createServices({
      env,
      log,
      clock: systemClock,
      rulesPath: rulesPath.path,
      watchRules: true,
      processMetrics: true,
      // A public bind with a key whose text ships with Tickbridge would hand the API to anyone.
      acceptRules:
        role === 'worker'
          ? undefined
          : (rules) => bindProblems({ host: env.HOST, addresses: apiAddresses }, rules),
    })
  } catch (err) {
    if (err instanceof RulesError) {
      const text = `Rules file ${err.path} cannot be used:\n${err.problems.map((p) => `  - ${p}`).join('\n')}`
      log.fatal({ problems: err.problems, path: err.path }, 'invalid rules file')
      process.stderr.write(`${text}\n`)
      process.exit(2)
    }
    throw err
  }
  const rules = services.rules.current()
  log.info(
    {
      role,
      redis: redactUrl(env.REDIS_URL),
      rules: rulesPath.path,
      orgs: rules.orgs.size,
      sessions: rules.sessions.size,
      users: rules.users.size,
      slaPolicies: rules.config.sla.policies.length,
      apiKeys: rules.config.apiKeys.length,
      transport: env.WA_TRANSPORT,
      crmSync: env.HUBSPOT_ACCESS_TOKEN ? 'on' : 'off (no HUBSPOT_ACCESS_TOKEN)',
      waAuthAtRest: env.WA_AUTH_KEYS
        ? `encrypted (key ${env.WA_AUTH_KEYS.currentId})`
        : 'plaintext (no WA_AUTH_KEYS)',
    },
    'tickbridge loaded',
  )
  if (env.WA_TRANSPORT === 'sim')
    log.warn('WA_TRANSPORT=sim: WhatsApp is simulated; no real messages are read or sent')

  // Each step is named, so a shutdown that cannot finish can say what it is still waiting for.
  const stops: ShutdownStep[] = []
  // Signals are handled from here on: one arriving while we start waits for the start to finish, then
  // stops everything that started (so leases are released, not left to expire).
  let started: () => void = () => {}
  const startup = new Promise<void>((resolve) => {
    started = resolve
  })
  installShutdown(log, async (progress) => {
    progress('the start-up to finish')
    await startup
    for (const step of stops) {
      progress(step.waitingFor)
      await step.stop()
    }
    progress('the Redis connections and queues to close')
    await services.close()
  })

  try {
    if (role === 'worker' || role === 'all') {
      const worker: Worker = await startWorker(services)
      stops.push({
        waitingFor: 'the worker: in-flight jobs to finish and session leases to be released',
        stop: () => worker.close(),
      })
    }
    if (role === 'web' || role === 'all') {
      const gateway = new RedisSessionGateway(services.redis, services.keys.prefix)
      const queues = dashboardQueues(services)
      const app = await buildApp({ services, gateway, queues })
      const apiDrain = drainer(app.server)
      await app.listen({ port: env.PORT, host: env.HOST })
      const { port } = app.server.address() as AddressInfo
      // What is bound decides, not what HOST said: a name may have resolved elsewhere by now.
      apiAddresses = boundAddresses(app.addresses())
      const problems = bindProblems({ host: env.HOST, addresses: apiAddresses }, services.rules.current())
      if (problems.length > 0) {
        log.fatal({ problems, bound: apiAddresses }, 'refusing to serve published keys to other machines')
        process.stderr.write(`${problems.join('\n')}\n`)
        await app.close()
        process.exit(2)
      }
      log.info(
        {
          url: `http://127.0.0.1:${port}`,
          docs: `http://127.0.0.1:${port}/docs`,
          bound: apiAddresses.join(', '),
          reachableFrom: exposedAddresses(apiAddresses).length ? 'other machines' : 'this machine only',
        },
        'HTTP API listening',
      )
      const ops = await buildOpsApp({ services, queues })
      const opsDrain = drainer(ops.server)
      await ops.listen({ port: env.METRICS_PORT, host: env.METRICS_HOST })
      const metricsBound = boundAddresses(ops.addresses())
      log.info(
        {
          metrics: `http://${hostInUrl(metricsBound[0] ?? env.METRICS_HOST)}:${(ops.server.address() as AddressInfo).port}/metrics`,
          bound: metricsBound.join(', '),
          reachableFrom: exposedAddresses(metricsBound).length ? 'other machines' : 'this machine only',
        },
        'metrics listening',
      )
      // Stop taking requests first; in-flight ones finish before the worker and Redis close.
      stops.unshift({
        waitingFor: 'in-flight HTTP requests to finish',
        stop: async () => {
          await Promise.all([apiDrain.close(() => app.close()), opsDrain.close(() => ops.close())])
          await gateway.close()
        },
      })
    }
  } finally {
    started()
  }
}

function boundAddresses(list: Array<AddressInfo | string>): string[] {
  return list.map((a) => (typeof a === 'string' ? a : a.address))
}

/** An address as a URL's host: IPv6 in brackets, its zone escaped. */
function hostInUrl(address: string): string {
  return address.includes(':') ? `[${address.replace('%', '%25')}]` : address
}

interface ShutdownStep {
  /** What the shutdown waits for while this step runs, in words for the log. */
  waitingFor: string
  stop(): Promise<void>
}

/** How long a shutdown may take before it gives up and exits 1. */
const SHUTDOWN_LIMIT_MS = 25_000
/**
 * A repeat of a signal within this window is the same request delivered twice, not an operator asking
 * to exit now: a terminal sends Ctrl-C to the whole process group and `npm` forwards it once more.
 */
const DUPLICATE_SIGNAL_MS = 1_000

function installShutdown(log: Logger, stop: (progress: (waitingFor: string) => void) => Promise<void>): void {
  let firstAt: number | null = null
  let waitingFor = 'nothing yet'
  let stepStartedAt = Date.now()
  const onSignal = (signal: string) => {
    if (firstAt !== null) {
      if (Date.now() - firstAt < DUPLICATE_SIGNAL_MS) return
      log.warn({ signal, waitingFor }, 'second signal: exiting now without finishing the shutdown')
      process.exit(1)
    }
    firstAt = Date.now()
    log.info({ signal }, 'shutting down: finishing in-flight work')
    const force = setTimeout(() => {
      log.error(
        { waitingFor, waitedSeconds: Math.round((Date.now() - stepStartedAt) / 1000) },
        `shutdown took longer than ${SHUTDOWN_LIMIT_MS / 1000} s: exiting while still waiting for ${waitingFor}`,
      )
      process.exit(1)
    }, SHUTDOWN_LIMIT_MS)
    force.unref()
    const progress = (next: string) => {
      waitingFor = next
      stepStartedAt = Date.now()
    }
    stop(progress).then(
      () => {
        log.info('shutdown complete')
        process.exit(0)
      },
      (err: unknown) => {
        log.error({ err, waitingFor }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  process.on('SIGINT', () => onSignal('SIGINT'))
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`tickbridge failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
