import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Reminder } from '../../reminders/reminder-store.js'
import { ChatNotFoundError, NoLastMessageError } from '../../reminders/reminders.js'
import { parseDuration } from '../../rules/duration.js'
import { sessionOf } from '../auth.js'
import type { HttpDeps } from '../context.js'
import { chatDto, iso } from '../dto.js'
import { ApiError } from '../errors.js'
import { chatParams, chatSchema, errorSchema } from '../schemas.js'

const YEAR_MS = 366 * 24 * 3600 * 1000

const unreadBody = z
  .object({
    /** When to put the reminder dot on, ISO 8601 with offset. */
    at: z.iso.datetime({ offset: true }).optional(),
    /** Or how long from now: 30m, 2h, 1d. */
    in: z
      .string()
      .refine((v) => (parseDuration(v) ?? 0) > 0, 'expected a duration like 2h')
      .optional(),
    clearFirst: z.boolean().optional(),
    snooze: z.boolean().optional(),
    note: z.string().max(500).optional(),
    cancelOn: z
      .array(z.enum(['inbound', 'outbound']))
      .max(2)
      .optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.at && b.in)
      ctx.addIssue({ code: 'custom', path: ['in'], message: 'give either at or in, not both' })
    if (b.snooze && !b.at && !b.in) {
      ctx.addIssue({ code: 'custom', path: ['snooze'], message: 'a snooze needs a due time (at or in)' })
    }
  })

const reminderSchema = z.object({
  reminderId: z.string(),
  chatJid: z.string(),
  dueAt: z.iso.datetime(),
  status: z.enum(['scheduled', 'waiting_for_app_state', 'done', 'failed', 'cancelled', 'replaced']),
  clearFirst: z.boolean(),
  snooze: z.boolean(),
  note: z.string().nullable(),
  cancelOn: z.array(z.enum(['inbound', 'outbound'])),
  createdAt: z.iso.datetime(),
  attempts: z.number().int(),
  detail: z.string().nullable(),
})

export function reminderDto(r: Reminder): z.infer<typeof reminderSchema> {
  return {
    reminderId: r.id,
    chatJid: r.chatJid,
    dueAt: iso(r.dueAt)!,
    status: r.status,
    clearFirst: r.clearFirst,
    snooze: r.snooze,
    note: r.note,
    cancelOn: r.cancelOn,
    createdAt: iso(r.createdAt)!,
    attempts: r.attempts,
    detail: r.detail,
  }
}

/** How long an immediate "mark unread" waits for the worker before answering 202 instead of 200. */
const IMMEDIATE_WAIT_MS = 10_000

export const reminderRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, { services: s }) => {
  app.post(
    '/v1/sessions/:sid/chats/:jid/unread',
    {
      config: { capability: 'send' },
      schema: {
        summary:
          'Put the unread dot on a chat now (200), or at/in a time (202 with the reminder); snooze archives meanwhile',
        tags: ['reminders'],
        params: chatParams,
        body: unreadBody,
        response: {
          200: chatSchema,
          202: reminderSchema,
          400: errorSchema,
          404: errorSchema,
          409: errorSchema,
          501: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const now = s.clock.now()
      const b = req.body
      let dueAt = now
      if (b.at) {
        dueAt = Date.parse(b.at)
        if (dueAt <= now) throw ApiError.validation([{ field: 'body.at', message: 'must be in the future' }])
      }
      if (b.in) dueAt = now + parseDuration(b.in)!
      if (dueAt - now > YEAR_MS) {
        throw ApiError.validation([
          { field: b.at ? 'body.at' : 'body.in', message: 'must be at most a year ahead' },
        ])
      }
      const immediate = !b.at && !b.in
      if (immediate && (await s.statuses.get(session.id)).status !== 'WORKING') {
        throw new ApiError('not_implemented', `session ${session.id} has no live WhatsApp client right now`)
      }
      let reminder: Reminder
      try {
        reminder = await s.reminders.create(session.id, req.params.jid, {
          dueAt,
          ...(b.clearFirst !== undefined ? { clearFirst: b.clearFirst } : {}),
          ...(b.snooze !== undefined ? { snooze: b.snooze } : {}),
          ...(b.note !== undefined ? { note: b.note } : {}),
          ...(b.cancelOn ? { cancelOn: b.cancelOn } : {}),
        })
      } catch (err) {
        if (err instanceof ChatNotFoundError) throw ApiError.notFound(`chat ${req.params.jid}`)
        if (err instanceof NoLastMessageError) throw new ApiError('conflict', err.message)
        throw err
      }
      if (!immediate) return reply.status(202).send(reminderDto(reminder))
      // Now: wait for the session's worker to do it, so the caller gets the chat as it is afterwards.
      const deadline = Date.now() + IMMEDIATE_WAIT_MS
      let current = reminder
      while (current.status === 'scheduled' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25))
        current = (await s.reminderStore.get(session.id, reminder.id)) ?? current
      }
      if (current.status === 'done') {
        const chat = await s.inbox.getChat(session.id, reminder.chatJid)
        return reply
          .status(200)
          .send(chatDto(chat!, await s.reminderStore.pendingOf(session.id, reminder.chatJid)))
      }
      if (current.status === 'failed')
        throw new ApiError('conflict', `could not mark the chat unread: ${current.detail}`)
      return reply.status(202).send(reminderDto(current))
    },
  )

  app.get(
    '/v1/sessions/:sid/chats/:jid/reminders',
    {
      config: { capability: 'read' },
      schema: {
        summary: "The chat's recent reminders, newest first",
        tags: ['reminders'],
        params: chatParams,
        response: { 200: z.object({ items: z.array(reminderSchema) }), 404: errorSchema },
      },
    },
    async (req) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const chat = await s.inbox.getChat(session.id, req.params.jid)
      if (!chat) throw ApiError.notFound(`chat ${req.params.jid}`)
      return { items: (await s.reminderStore.listOf(session.id, chat.jid)).map(reminderDto) }
    },
  )

  app.delete(
    '/v1/sessions/:sid/chats/:jid/reminders/:rid',
    {
      config: { capability: 'send' },
      schema: {
        summary: 'Cancel a pending reminder',
        tags: ['reminders'],
        params: chatParams.extend({ rid: z.string().regex(/^r[0-9a-f]{16}$/, 'expected a reminder id') }),
        response: { 204: z.undefined(), 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const session = sessionOf(s.rules.current(), req.principal!, req.params.sid)
      const chat = await s.inbox.getChat(session.id, req.params.jid)
      const existing = chat ? await s.reminderStore.get(session.id, req.params.rid) : null
      if (!chat || !existing || existing.chatJid !== chat.jid)
        throw ApiError.notFound(`reminder ${req.params.rid}`)
      if (!(await s.reminders.cancel(session.id, chat.jid, existing.id, 'cancelled through the API'))) {
        throw new ApiError('conflict', `reminder ${existing.id} is ${existing.status}, no longer pending`)
      }
      return reply.status(204).send()
    },
  )
}
