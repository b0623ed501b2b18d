import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { sessionIdSchema } from '../../domain/events.js'
import type { HttpDeps } from '../context.js'
import { ApiError } from '../errors.js'
import { errorSchema } from '../schemas.js'

const eventsQuery = z
  .object({
    since: z.iso.datetime({ offset: true }).optional(),
    sessionId: sessionIdSchema.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z
      .string()
      .regex(/^\d{1,20}-\d{1,10}$/, 'expected a cursor this API issued')
      .optional(),
  })
  .strict()

const slaEventSchema = z.object({
  id: z.string(),
  sessionId: z.string(),
  chatJid: z.string(),
  policyId: z.string(),
  level: z
    .number()
    .int()
    .min(1)
    .describe('The level as the rules number it: 1 is the first')
    .meta({ example: 2 }),
  kind: z.enum(['first', 'next']),
  waitingSince: z.iso.datetime(),
  dueAt: z.iso.datetime(),
  deadline: z.iso.datetime(),
  firedAt: z.iso.datetime(),
  actions: z.array(z.object({ action: z.string(), outcome: z.string(), ok: z.boolean() })),
})

const iso = (ms: number) => new Date(ms).toISOString()

export const slaRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s }) => {
  app.get(
    '/v1/sla/events',
    {
      config: { capability: 'read' },
      schema: {
        summary: "The org's SLA breach log: every level fired, with its actions' outcomes, oldest first",
        tags: ['sla'],
        querystring: eventsQuery,
        response: {
          200: z.object({ items: z.array(slaEventSchema), nextCursor: z.string() }),
          400: errorSchema,
          404: errorSchema,
        },
      },
    },
    async (req) => {
      const org = req.principal!.org
      const q = req.query
      if (q.sessionId && s.rules.current().sessions.get(q.sessionId)?.org !== org) {
        throw ApiError.notFound(`session ${q.sessionId}`)
      }
      const page = await s.sla.events(org, {
        limit: q.limit,
        ...(q.since ? { since: Date.parse(q.since) } : {}),
        ...(q.sessionId ? { sessionId: q.sessionId } : {}),
        ...(q.cursor ? { after: q.cursor } : {}),
      })
      return {
        items: page.items.map((e) => ({
          ...e,
          level: e.level + 1, // stored as the index in the policy's levels
          waitingSince: iso(e.waitingSince),
          dueAt: iso(e.dueAt),
          deadline: iso(e.deadline),
          firedAt: iso(e.firedAt),
        })),
        nextCursor: page.next ?? '',
      }
    },
  )
}
