import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Session } from '../../rules/schema.js'
import type { Services } from '../../services.js'
import { sessionOf } from '../auth.js'
import type { HttpDeps } from '../context.js'
import { iso } from '../dto.js'
import { errorSchema, sessionDetailSchema, sessionParams, sessionSchema } from '../schemas.js'

async function sessionDto(s: Services, session: Session) {
  const st = await s.statuses.get(session.id)
  return {
    id: session.id,
    org: session.org,
    label: session.label ?? null,
    defaultOwner: session.defaultOwner ?? null,
    status: st.status,
    statusSince: iso(st.since),
    statusDetail: st.detail,
    qr: st.status === 'SCAN_QR_CODE' ? st.qr : null,
  }
}

export const sessionRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s }) => {
  app.get(
    '/v1/sessions',
    {
      config: { capability: 'read' },
      schema: {
        summary: "List the caller's sessions with their status",
        tags: ['sessions'],
        response: { 200: z.object({ items: z.array(sessionSchema) }), 401: errorSchema },
      },
    },
    async (req) => {
      const sessions = s.rules.current().sessionsOfOrg(req.principal!.org)
      return { items: await Promise.all(sessions.map((session) => sessionDto(s, session))) }
    },
  )

  app.get(
    '/v1/sessions/:sid',
    {
      config: { capability: 'read' },
      schema: {
        summary: 'One session: status, its history, pairing QR while pairing',
        tags: ['sessions'],
        params: sessionParams,
        response: { 200: sessionDetailSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const [dto, history, chats] = await Promise.all([
        sessionDto(s, session),
        s.statuses.history(session.id, 20),
        s.inbox.countChats(session.id),
      ])
      return {
        ...dto,
        history: history.map((h) => ({ status: h.status, at: iso(h.since)!, detail: h.detail })),
        chats,
      }
    },
  )
}
