import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { SIM_FAULTS, type SimNetwork } from '../../whatsapp/sim/network.js'
import { sessionOf } from '../auth.js'
import type { HttpDeps } from '../context.js'
import {
  errorSchema,
  sessionParams,
  simActionsQuery,
  simActionsResponse,
  simMessageBody,
  simMessageResponse,
} from '../schemas.js'

/** Only registered with WA_TRANSPORT=sim: drive the simulated WhatsApp and see what the service did. */
export const simRoutes: FastifyPluginAsyncZod<HttpDeps & { sim: SimNetwork }> = async (
  app,
  { services: s, sim },
) => {
  app.post(
    '/v1/sim/sessions/:sid/messages',
    {
      config: { capability: 'send' },
      schema: {
        summary: 'Inject a message as if WhatsApp delivered it (sim transport only)',
        tags: ['sim'],
        params: sessionParams,
        body: simMessageBody,
        response: { 202: simMessageResponse, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const { timestamp, ...rest } = req.body
      const event = (await sim.injectMessage(session.id, {
        ...rest,
        ...(timestamp ? { timestamp: Date.parse(timestamp) } : {}),
      })) as { key: { id: string }; timestamp: number }
      return reply.status(202).send({
        accepted: true as const,
        messageId: event.key.id,
        timestamp: new Date(event.timestamp).toISOString(),
      })
    },
  )

  app.post(
    '/v1/sim/sessions/:sid/faults',
    {
      config: { capability: 'send' },
      schema: {
        summary: 'Make the next chat modifications fail as WhatsApp does (sim transport only)',
        tags: ['sim'],
        params: sessionParams,
        body: z.object({ fault: z.enum(SIM_FAULTS), times: z.number().int().min(1).max(100) }).strict(),
        response: { 204: z.undefined(), 400: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      await sim.injectFault(session.id, req.body.fault, req.body.times)
      return reply.status(204).send()
    },
  )

  app.post(
    '/v1/sim/sessions/:sid/scan',
    {
      config: { capability: 'send' },
      schema: {
        summary:
          'A phone scans the pairing QR code (its payload) or types the pairing code of an unlinked session (sim transport only)',
        tags: ['sim'],
        params: sessionParams,
        body: z
          .object({ qr: z.string().min(1).max(1024).optional(), code: z.string().min(1).max(16).optional() })
          .strict()
          .refine((b) => (b.qr === undefined) !== (b.code === undefined), 'give either qr or code'),
        response: { 202: z.object({ accepted: z.literal(true) }), 400: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      if (req.body.qr !== undefined) await sim.scanQr(session.id, req.body.qr)
      else await sim.enterPairingCode(session.id, req.body.code!)
      return reply.status(202).send({ accepted: true as const })
    },
  )

  app.get(
    '/v1/sim/sessions/:sid/actions',
    {
      config: { capability: 'read' },
      schema: {
        summary: 'What the service did to WhatsApp (receipts, chat modifications, presence), oldest first',
        tags: ['sim'],
        params: sessionParams,
        querystring: simActionsQuery,
        response: { 200: simActionsResponse, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const actions = await sim.actions(session.id, {
        limit: req.query.limit,
        ...(req.query.after ? { after: req.query.after } : {}),
      })
      const items = actions.map(({ sessionId: _sid, at, ...a }) => ({ ...a, at: new Date(at).toISOString() }))
      return { items, lastSeq: items.at(-1)?.seq ?? null }
    },
  )
}
