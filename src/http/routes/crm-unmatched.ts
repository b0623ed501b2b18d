import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { HttpDeps } from '../context.js'
import { ApiError } from '../errors.js'
import { errorSchema } from '../schemas.js'

const unmatchedResponse = z.object({
  data: z.array(
    z.object({
      sessionId: z.string(),
      chatJid: z.string(),
      /** E.164, with +. */
      phone: z.string(),
      since: z.iso.datetime(),
      attempts: z.number().int(),
      lastTriedAt: z.iso.datetime(),
      nextTryAt: z.iso.datetime(),
    }),
  ),
})

/**
 * `GET /v1/crm/unmatched`: the caller's org's chats whose WhatsApp number matches no HubSpot contact
 * yet, so an admin can fix the contact's number or create it. Each stays pending and is retried with
 * backoff (and at once when HubSpot reports a new or renumbered contact).
 */
export const crmUnmatchedRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s }) => {
  app.get(
    '/v1/crm/unmatched',
    {
      config: { capability: 'read' },
      schema: {
        summary: 'Chats whose number matches no HubSpot contact yet (this org)',
        tags: ['hubspot'],
        response: { 200: unmatchedResponse, 401: errorSchema, 501: errorSchema },
      },
    },
    async (req) => {
      if (!s.hubspot) throw new ApiError('not_implemented', 'CRM sync is off (no HUBSPOT_ACCESS_TOKEN)')
      const org = req.principal!.org
      const iso = (ms: number) => new Date(ms).toISOString()
      const all = await s.hubspot.unmatched.all()
      return {
        data: all
          .filter((u) => u.org === org)
          .map((u) => ({
            sessionId: u.sessionId,
            chatJid: u.chatJid,
            phone: `+${u.phone}`,
            since: iso(u.since),
            attempts: u.attempts,
            lastTriedAt: iso(u.lastTriedAt),
            nextTryAt: iso(u.nextTryAt),
          })),
      }
    },
  )
}
