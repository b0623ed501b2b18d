import { fileURLToPath } from 'node:url'
import type { Queue } from 'bullmq'
import { type Clock, ManualClock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { buildApp } from '../../src/http/app.js'
import { createLogger } from '../../src/log.js'
import { createServices, type Services } from '../../src/services.js'
import { RedisSessionGateway, type SessionGateway } from '../../src/whatsapp/command-bus.js'
import { T0 } from './events.js'
import { REDIS_URL, testRedis } from './redis.js'

/** Plaintext keys whose SHA-256 hashes are in test/fixtures/rules.api.yaml. */
export const KEYS = {
  acmeAdmin: 'tbk_acme_admin_0001',
  acmeRead: 'tbk_acme_read_0001',
  acmeSend: 'tbk_acme_send_0001',
  globexAdmin: 'tbk_globex_admin_01',
  acmeLimited: 'tbk_acme_limited_01',
  acmeBurst: 'tbk_acme_burst_0001',
  /** The deployment operator's key: no org, the queue dashboard only. */
  operator: 'tbk_operator_0001',
} as const

export const API_RULES = fileURLToPath(new URL('../fixtures/rules.api.yaml', import.meta.url))

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

/**
 * The real HTTP app on real Redis (own key prefix), sim transport, a manual clock and captured logs.
 * Pass `prefix` to share state with another instance (e.g. rate limits across two web processes).
 */
export async function appFixture<C extends Clock = ManualClock>(
  label: string,
  opts: {
    rulesPath?: string
    prefix?: string
    gateway?: SessionGateway
    clock?: C
    env?: Record<string, string>
    /** Shown in the queue dashboard. */
    queues?: Queue[]
  } = {},
) {
  const r = testRedis(label)
  const prefix = opts.prefix ?? r.prefix
  const env = parseEnv({
    REDIS_URL,
    TICKBRIDGE_PREFIX: prefix,
    WA_TRANSPORT: 'sim',
    LOG_LEVEL: 'debug',
    ...opts.env,
  })
  const logLines: string[] = []
  const log = createLogger({ level: 'debug' }, { write: (line: string) => void logLines.push(line) })
  const clock = (opts.clock ?? new ManualClock(T0)) as C
  const services: Services = await createServices({
    env,
    log,
    clock,
    rulesPath: opts.rulesPath ?? API_RULES,
    watchRules: false,
    redis: r.redis,
  })
  const gateway = opts.gateway ?? new RedisSessionGateway(r.redis, prefix, 2000)
  const app = await buildApp({ services, gateway, queues: opts.queues ?? [] })
  await app.ready()
  return {
    app,
    services,
    clock,
    prefix,
    redis: r.redis,
    logLines,
    async cleanup() {
      await app.close()
      await gateway.close()
      await services.close()
      await r.cleanup()
    },
  }
}
