import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { resetUnanswered } from '../../counters/reset.js'
import { sessionIdSchema } from '../../domain/events.js'
import { userCounters } from '../../inbox/counters.js'
import { idSchema } from '../../rules/schema.js'
import { sessionOf } from '../auth.js'
import type { HttpDeps } from '../context.js'
import { ApiError } from '../errors.js'
import { errorSchema } from '../schemas.js'

const metaSchema = z.object({ timestamp: z.iso.datetime() })

const counterResponse = z.object({
  data: z.object({
    /** Wazzup's single figure: `red` when the user has any red, else `grey`. */
    counter: z.number().int(),
    type: z.enum(['red', 'grey']),
    red: z.number().int(),
    grey: z.number().int(),
  }),
  meta: metaSchema,
})

const resetQuery = z
  .object({
    sessionId: sessionIdSchema.optional(),
    userId: idSchema.optional(),
  })
  .strict()

const resetResponse = z.object({
  data: z.object({
    account_id: z.string(),
    cleared: z.literal(true),
    /** Chats whose waiting messages were cleared. */
    chats: z.number().int(),
    /** Customer messages no longer counted as unanswered. */
    messages: z.number().int(),
  }),
  meta: metaSchema,
})

/** Wazzup-style unanswered counters per CRM user, and resets of them. */
export const counterRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s }) => {
  /** Another org's user answers exactly like a missing one. */
  const userOf = (org: string, userId: string) => {
    const user = s.rules.current().users.get(userId)
    if (!user || user.org !== org) throw ApiError.notFound(`user ${userId}`)
    return user
  }
  const meta = () => ({ timestamp: new Date(s.clock.now()).toISOString() })

  app.get(
    '/v1/counters/unanswered/:userId',
    {
      config: { capability: 'read' },
      schema: {
        summary:
          "A CRM user's unanswered customer messages: red (own chats, plus unassigned ones for users who take new clients) and grey (chats of the people they supervise)",
        tags: ['counters'],
        params: z.object({ userId: idSchema }),
        response: { 200: counterResponse, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const user = userOf(req.principal!.org, req.params.userId)
      const c = await userCounters(s.inbox, s.rules.current(), user.id)
      if (!c) throw ApiError.notFound(`user ${user.id}`)
      return { data: { counter: c.counter, type: c.type, red: c.red, grey: c.grey }, meta: meta() }
    },
  )

  app.delete(
    '/v1/chats/unanswered',
    {
      config: { capability: 'admin' },
      schema: {
        summary:
          "Reset the unanswered counters of every chat of the caller's org, of one session (sessionId) and/or of the chats one user owns (userId)",
        tags: ['counters'],
        querystring: resetQuery,
        response: { 200: resetResponse, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const org = req.principal!.org
      const rules = s.rules.current()
      const { sessionId, userId } = req.query
      const sessionIds = sessionId
        ? [sessionOf(rules, req.principal!, sessionId).id]
        : rules.sessionsOfOrg(org).map((session) => session.id)
      const owner = userId ? userOf(org, userId).id : undefined
      const result = await resetUnanswered(s, {
        sessionIds,
        ...(owner ? { owner } : {}),
        at: s.clock.now(),
        trigger: 'api',
      })
      req.log.info({ org, sessionId, userId, ...result }, 'unanswered counters reset')
      return { data: { account_id: org, cleared: true as const, ...result }, meta: meta() }
    },
  )
}
