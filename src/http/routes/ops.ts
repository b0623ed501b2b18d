import type { Queue } from 'bullmq'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Services } from '../../services.js'
import type { HttpDeps } from '../context.js'

const readySchema = z.object({ status: z.enum(['ready', 'not_ready']) })

/**
 * Liveness and readiness for the platform's probes: public, so they say no more than up / ready. The
 * checks behind readiness and the metrics are on the operator's listener (../ops-app.ts).
 */
export const opsRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s, queues }) => {
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
        summary: 'Ready to serve: Redis reachable, rules loaded, queues ready (the checks: metrics listener)',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (_req, reply) => {
      const { ready } = await readiness(s, queues)
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready' })
    },
  )
}

export interface Readiness {
  ready: boolean
  /** One line per check: `ok…` or what is wrong. */
  checks: Record<string, string>
}

/** Redis answers, the rules are loaded and every queue's connection is ready. */
export async function readiness(s: Services, queues: Queue[]): Promise<Readiness> {
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
  return { ready: Object.values(checks).every((c) => c.startsWith('ok')), checks }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms).unref()),
  ])
}
