import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import QRCode from 'qrcode'
import { z } from 'zod'
import type { Session } from '../../rules/schema.js'
import type { Services } from '../../services.js'
import { CommandFailedError, CommandTimeoutError } from '../../whatsapp/command-bus.js'
import { SessionNotLiveError } from '../../whatsapp/port.js'
import { type OrgPrincipal, sessionOf } from '../auth.js'
import type { HttpDeps } from '../context.js'
import { iso } from '../dto.js'
import { ApiError } from '../errors.js'
import { errorSchema, sessionDetailSchema, sessionParams, sessionSchema } from '../schemas.js'

/** `qr` only for a key with admin: whoever scans it links their own phone to the org's number. */
async function sessionDto(s: Services, session: Session, principal: OrgPrincipal) {
  const st = await s.reportedStatus(session.id)
  const qr = st.status === 'SCAN_QR_CODE' ? st.qr : null
  return {
    id: session.id,
    org: session.org,
    label: session.label ?? null,
    defaultOwner: session.defaultOwner ?? null,
    status: st.status,
    statusSince: iso(st.since),
    statusDetail: st.detail,
    ...(principal.capabilities.has('admin') ? { qr } : {}),
  }
}

export const sessionRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s, gateway }) => {
  const adminAction = (summary: string) => ({
    config: { capability: 'admin' as const },
    schema: {
      summary,
      tags: ['sessions'],
      params: sessionParams,
      response: { 202: sessionSchema, 200: sessionSchema, 404: errorSchema, 503: errorSchema },
    },
  })

  app.post(
    '/v1/sessions/:sid/start',
    adminAction('Run the session (again): a worker takes it within seconds'),
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      await s.statuses.setDesired(session.id, 'running')
      // A held session that FAILED (logged out, replaced) is re-opened by its holder; an unheld one is
      // taken by a worker on its next pass.
      await gateway.call(session.id, { cmd: 'restart' }).catch((err: unknown) => {
        if (!(err instanceof SessionNotLiveError)) throw err
      })
      return reply.status(202).send(await sessionDto(s, session, req.principal!))
    },
  )

  app.post(
    '/v1/sessions/:sid/stop',
    adminAction('Stop the session on every worker until started again'),
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      await s.statuses.setDesired(session.id, 'stopped')
      return reply.status(202).send(await sessionDto(s, session, req.principal!))
    },
  )

  app.post(
    '/v1/sessions/:sid/logout',
    adminAction('Log out on WhatsApp and wipe the stored auth (pair again after)'),
    async (req) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      try {
        await gateway.call(session.id, { cmd: 'logout' }, 15_000)
      } catch (err) {
        if (err instanceof CommandTimeoutError) throw new ApiError('unavailable', err.message)
        if (!(err instanceof SessionNotLiveError || err instanceof CommandFailedError)) throw err
        // No live socket (or it has no logout): wipe what we hold so the next start pairs afresh.
        await s.sessionAuth.wipe(session.id)
        await s.statuses.set(session.id, 'FAILED', { detail: 'logged out by an operator: pair again' })
      }
      return sessionDto(s, session, req.principal!)
    },
  )

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
      return { items: await Promise.all(sessions.map((session) => sessionDto(s, session, req.principal!))) }
    },
  )

  app.get(
    '/v1/sessions/:sid',
    {
      config: { capability: 'read' },
      schema: {
        summary: 'One session: status, its history, the pairing QR while pairing (admin keys only)',
        tags: ['sessions'],
        params: sessionParams,
        response: { 200: sessionDetailSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const [dto, history, chats] = await Promise.all([
        sessionDto(s, session, req.principal!),
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

  app.get(
    '/v1/sessions/:sid/qr',
    {
      // Scanning it links a phone to the org's number: as much power as start, stop and logout.
      config: { capability: 'admin' },
      schema: {
        summary: 'The pairing QR code as a PNG image while the session waits to be scanned (for a UI)',
        tags: ['sessions'],
        params: sessionParams,
        response: {
          200: z.custom<Buffer>((v) => Buffer.isBuffer(v)).describe('image/png'),
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const st = await s.reportedStatus(session.id)
      if (st.status !== 'SCAN_QR_CODE' || !st.qr) {
        throw new ApiError(
          'conflict',
          `session ${session.id} shows no QR code now (status ${st.status}${st.detail ? `: ${st.detail}` : ''})`,
        )
      }
      const png = await QRCode.toBuffer(st.qr, {
        type: 'png',
        errorCorrectionLevel: 'L',
        margin: 2,
        width: 320,
      })
      return reply.header('cache-control', 'no-store').type('image/png').send(png)
    },
  )
}
