import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { Gauge } from 'prom-client'
import { z } from 'zod'
import { SESSION_STATUSES } from '../../whatsapp/port.js'
import type { HttpDeps } from '../context.js'

const readySchema = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.record(z.string(), z.string()),
})

/** Health, readiness and Prometheus metrics: unauthenticated, meant for the platform's probes. */
export const opsRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s, queues }) => {
  const registry = s.metrics.registry
  if (!registry.getSingleMetric('tickbridge_queue_jobs')) {
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

  app.get(
    '/healthz',
    { config: { public: true }, schema: { tags: ['ops'], summary: 'The process is up' } },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['ops'],
        summary: 'Redis reachable, rules loaded, queues ready',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (_req, reply) => {
      const checks: Record<string, string> = {}
      checks.redis = await s.redis.ping().then(
        () => 'ok',
        (err: Error) => `down: ${err.message}`,
      )
      checks.rules = s.rules.current() ? 'ok' : 'not loaded'
      const queueChecks = await Promise.all(
        queues.map((q) =>
          withTimeout(q.waitUntilReady(), 2000).then(
            () => 'ok',
            (err: Error) => `${q.name} down: ${err.message}`,
          ),
        ),
      )
      checks.queues = queueChecks.every((c) => c === 'ok') ? `ok (${queues.length})` : queueChecks.join('; ')
      const ready = Object.values(checks).every((c) => c.startsWith('ok'))
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks })
    },
  )

  app.get(
    '/metrics',
    { config: { public: true }, schema: { tags: ['ops'], summary: 'Prometheus metrics', hide: false } },
    async (_req, reply) => {
      reply.header('content-type', registry.contentType)
      return registry.metrics()
    },
  )
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms).unref()),
  ])
}
