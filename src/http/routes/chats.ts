import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { InboxEventInput } from '../../domain/events.js'
import { sessionOf } from '../auth.js'
import type { HttpDeps } from '../context.js'
import { chatDto } from '../dto.js'
import { ApiError } from '../errors.js'
import {
  chatParams,
  chatSchema,
  errorSchema,
  overviewQuery,
  overviewResponse,
  presenceBody,
  sessionParams,
} from '../schemas.js'

export const chatRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s, gateway }) => {
  const chatOr404 = async (sid: string, jid: string) => {
    const chat = await s.inbox.getChat(sid, jid)
    if (!chat) throw ApiError.notFound(`chat ${jid}`)
    return chat
  }

  /** A chat as every chat route answers it: with its pending reminder. */
  const chatView = async (sid: string, jid: string) => {
    const chat = await chatOr404(sid, jid)
    return chatDto(chat, await s.reminderStore.pendingOf(sid, chat.jid))
  }

  app.get(
    '/v1/sessions/:sid/chats/overview',
    {
      config: { capability: 'read' },
      schema: {
        summary: 'Chats by last activity, from stored state (works while WhatsApp is down)',
        tags: ['chats'],
        params: sessionParams,
        querystring: overviewQuery,
        response: { 200: overviewResponse, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const page = await s.inbox.overview(session.id, {
        limit: req.query.limit,
        ...(req.query.cursor ? { cursor: req.query.cursor } : {}),
        filter: req.query.filter ?? 'all',
      })
      const reminders = await s.reminderStore.pendingOfMany(
        session.id,
        page.items.map((c) => c.jid),
      )
      return {
        items: page.items.map((c) => chatDto(c, reminders.get(c.jid) ?? null)),
        nextCursor: page.nextCursor,
      }
    },
  )

  app.get(
    '/v1/sessions/:sid/chats/:jid',
    {
      config: { capability: 'read' },
      schema: {
        summary: 'One chat (any of its jid forms)',
        tags: ['chats'],
        params: chatParams,
        response: { 200: chatSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      return chatView(session.id, req.params.jid)
    },
  )

  /** A local state change on a chat (through the ingestor, so every listener follows); answers the chat. */
  const chatChange = (
    path: string,
    summary: string,
    event: (sid: string, jid: string, at: number) => InboxEventInput,
  ) =>
    app.post(
      `/v1/sessions/:sid/chats/:jid/${path}`,
      {
        config: { capability: 'send' },
        schema: {
          summary,
          tags: ['chats'],
          params: chatParams,
          response: { 200: chatSchema, 404: errorSchema },
        },
      },
      async (req) => {
        const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
        const chat = await chatOr404(session.id, req.params.jid)
        await s.ingestor.ingest(event(session.id, chat.jid, s.clock.now()))
        return chatView(session.id, chat.jid)
      },
    )

  chatChange('read', 'Clear our unread state for the chat (local; idempotent)', (sessionId, chatJid, at) => ({
    type: 'chat.read',
    sessionId,
    chatJid,
    at,
    source: 'api',
  }))
  chatChange(
    'no-reply-needed',
    'Mark the customer messages as needing no reply (unanswered to 0)',
    (sessionId, chatJid, at) => ({
      type: 'chat.noReplyNeeded',
      sessionId,
      chatJid,
      at,
    }),
  )

  app.put(
    '/v1/sessions/:sid/chats/:jid/presence',
    {
      config: { capability: 'send' },
      schema: {
        summary: 'Show typing/recording/paused in the chat (needs a live WhatsApp client)',
        tags: ['chats'],
        params: chatParams,
        body: presenceBody,
        response: { 204: z.undefined(), 400: errorSchema, 404: errorSchema, 501: errorSchema },
      },
    },
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      // No live holder: 501, holder silent: 503 (mapped once, in errors.ts).
      await gateway.sendPresence(session.id, req.params.jid, req.body.state)
      return reply.status(204).send()
    },
  )
}
