import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { sessionOf } from '../auth.js'
import type { HttpDeps } from '../context.js'
import { contactsQuery, contactsResponse, errorSchema, sessionParams } from '../schemas.js'

export const contactRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s }) => {
  app.get(
    '/v1/sessions/:sid/contacts',
    {
      config: { capability: 'read' },
      schema: {
        summary: 'People the session has seen (DMs, group participants), from stored data',
        tags: ['contacts'],
        params: sessionParams,
        querystring: contactsQuery,
        response: { 200: contactsResponse, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const { source, group, q, limit, cursor } = req.query
      return s.inbox.contacts(session.id, {
        limit,
        ...(source ? { source } : {}),
        ...(group ? { group } : {}),
        ...(q ? { q } : {}),
        ...(cursor ? { cursor } : {}),
      })
    },
  )
}
