import type { Queue } from 'bullmq'
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify'
import { Gauge, type Registry } from 'prom-client'
import type { Clock } from '../clock.js'
import type { Services } from '../services.js'
import { SESSION_STATUSES } from '../whatsapp/port.js'
import { readiness } from './routes/ops.js'

/** One collection serves every scrape for this long: the queue and session gauges cost Redis work. */
export const METRICS_CACHE_MS = 5_000

/**
 * The operator's listener: Prometheus metrics and readiness with its checks. It has no authentication,
 * so main() binds it to loopback unless METRICS_HOST says otherwise; the metrics name sessions and
 * count every org's traffic, which the API's public port must not show.
 */
export async function buildOpsApp(deps: { services: Services; queues: Queue[] }) {
  const { services: s, queues } = deps
  const app = Fastify({
    loggerInstance: s.log.child({ component: 'metrics-http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  })
  registerStoreGauges(s, queues)
  const metrics = cachedText(() => s.metrics.registry.metrics(), s.clock, METRICS_CACHE_MS)

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', s.metrics.registry.contentType)
    return metrics()
  })
  app.get('/readyz', async (_req, reply) => {
    const { ready, checks } = await readiness(s, queues)
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks })
  })
  app.get('/healthz', async () => ({ status: 'ok' }))
  return app
}

/** Queue depths and sessions per status, read from Redis when the registry is collected. */
function registerStoreGauges(s: Services, queues: Queue[]): void {
  const registry: Registry = s.metrics.registry
  if (registry.getSingleMetric('tickbridge_queue_jobs')) return
  new Gauge({
    name: 'tickbridge_queue_jobs',
    help: 'Jobs per queue and state (waiting, delayed, active, failed)',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      for (const q of queues) {
        const counts = await q.getJobCounts('waiting', 'delayed', 'active', 'failed')
        for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n)
      }
    },
  })
  new Gauge({
    name: 'tickbridge_sessions',
    help: 'Sessions by status',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const ids = [...s.rules.current().sessions.keys()]
      const statuses = await Promise.all(ids.map((id) => s.statuses.get(id)))
      for (const status of SESSION_STATUSES)
        this.set({ status }, statuses.filter((st) => st.status === status).length)
    },
  })
}

/**
 * `read` at most once per `ttlMs` of the clock; scrapes arriving meanwhile (or while a read runs) get
 * the same text. A failed read is not kept.
 */
export function cachedText(read: () => Promise<string>, clock: Clock, ttlMs: number): () => Promise<string> {
  let cached: { at: number; text: Promise<string> } | null = null
  return () => {
    const now = clock.now()
    if (cached && now - cached.at < ttlMs) return cached.text
    const entry = { at: now, text: read() }
    entry.text.catch(() => {
      if (cached === entry) cached = null
    })
    cached = entry
    return entry.text
  }
}
