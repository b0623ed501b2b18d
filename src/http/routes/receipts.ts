import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { chatJidSchema, messageIdSchema, userJidSchema } from '../../domain/events.js'
import { sessionOf } from '../auth.js'
import type { HttpDeps } from '../context.js'
import { iso } from '../dto.js'
import { ApiError } from '../errors.js'
import { errorSchema, sessionParams } from '../schemas.js'

const seenBody = z
  .object({
    chatId: chatJidSchema,
    /** Without ids: every customer message of the chat still waiting for its receipt. */
    messageIds: z.array(messageIdSchema).min(1).max(500).optional(),
    participant: userJidSchema.optional(),
    delay: z.enum(['human', 'none']).default('human'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.chatId.endsWith('@g.us') && b.messageIds && !b.participant) {
      ctx.addIssue({
        code: 'custom',
        path: ['participant'],
        message: 'required with messageIds in a group chat',
      })
    }
  })

const seenResponse = z.object({
  chatId: z.string(),
  messageIds: z.array(z.string()),
  /** When the receipt goes out; null when nothing was waiting for one. */
  plannedAt: z.iso.datetime().nullable(),
})

export const receiptRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s }) => {
  app.post(
    '/v1/sessions/:sid/seen',
    {
      config: { capability: 'send' },
      schema: {
        summary:
          'Mark customer messages seen (blue ticks), after a human-like delay or now; one receipt per chat',
        tags: ['receipts'],
        params: sessionParams,
        body: seenBody,
        response: { 202: seenResponse, 400: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      if (s.rules.current().seenPolicyFor(session.id)?.policy === 'off') {
        throw new ApiError(
          'conflict',
          `seen receipts are off for session ${session.id} (seen.policy in the rules)`,
        )
      }
      const chat = await s.inbox.getChat(session.id, req.body.chatId)
      if (!chat) throw ApiError.notFound(`chat ${req.body.chatId}`)
      const planned = await s.receiptPlanner.request(session.id, chat.jid, {
        delay: req.body.delay,
        ...(req.body.messageIds ? { messageIds: req.body.messageIds } : {}),
        ...(req.body.participant ? { participant: req.body.participant } : {}),
      })
      return reply.status(202).send({
        chatId: chat.jid,
        messageIds: planned?.messageIds ?? [],
        plannedAt: planned ? iso(planned.plannedAt) : null,
      })
    },
  )
}
