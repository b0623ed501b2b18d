import { z } from 'zod'
import { chatJidSchema, groupJidSchema, sessionIdSchema, userJidSchema } from '../domain/events.js'
import { SESSION_STATUSES } from '../whatsapp/port.js'
import { REPORTED_STATUSES } from '../whatsapp/session-liveness.js'

/** The API's zod schemas: one source for validation, the OpenAPI document and the typed client. */

export const errorSchema = z.object({
  error: z.object({
    code: z.enum([
      'validation_error',
      'unauthorized',
      'forbidden',
      'not_found',
      'conflict',
      'rate_limited',
      'internal',
      'not_implemented',
      'unavailable',
    ]),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
})

const iso = z.iso.datetime()
const MIN_EPOCH_MS = 1_230_768_000_000
const MAX_EPOCH_MS = 4_102_444_800_000
const U64_MAX = 18_446_744_073_709_551_615n

export const sessionParams = z.object({ sid: sessionIdSchema })
export const chatParams = z.object({ sid: sessionIdSchema, jid: chatJidSchema })

export const sessionSchema = z.object({
  id: z.string(),
  org: z.string(),
  label: z.string().nullable(),
  defaultOwner: z.string().nullable(),
  /** MOVING: the stored WORKING outlived its holder process; the detail names the last holder. */
  status: z.enum(REPORTED_STATUSES),
  statusSince: iso.nullable(),
  statusDetail: z.string().nullable(),
  /** Whoever scans the QR links their own phone to the number: only a key with admin is shown it. */
  qr: z
    .string()
    .nullable()
    .optional()
    .describe(
      'The pairing QR payload while status is SCAN_QR_CODE, else null. Only for a key with admin: absent for other keys.',
    ),
})

export const sessionDetailSchema = sessionSchema.extend({
  history: z.array(z.object({ status: z.enum(SESSION_STATUSES), at: iso, detail: z.string().nullable() })),
  chats: z.number().int(),
})

export const lastMessageSchema = z.object({
  id: z.string(),
  fromMe: z.boolean(),
  preview: z.string(),
  timestamp: iso,
})

export const chatSchema = z.object({
  jid: z.string(),
  altJid: z.string().nullable(),
  name: z.string().nullable(),
  type: z.enum(['dm', 'group']),
  unreadCount: z.number().int(),
  markedUnread: z.boolean(),
  unanswered: z.number().int(),
  waitingSince: iso.nullable(),
  lastInboundAt: iso.nullable(),
  lastOutboundAt: iso.nullable(),
  lastMessage: lastMessageSchema.nullable(),
  owner: z.string().nullable(),
  archived: z.boolean(),
  /** The chat's pending unread reminder (overview and single-chat reads only). */
  reminder: z
    .object({
      id: z.string(),
      dueAt: iso,
      status: z.enum(['scheduled', 'waiting_for_app_state']),
    })
    .nullable()
    .optional(),
})

const limit = (def: number) => z.coerce.number().int().min(1).max(200).default(def)
const cursor = z.string().max(512).optional()

export const overviewQuery = z
  .object({
    limit: limit(50),
    cursor,
    filter: z.enum(['unread', 'unanswered']).optional(),
  })
  .strict()

export const overviewResponse = z.object({ items: z.array(chatSchema), nextCursor: z.string() })

export const contactsQuery = z
  .object({
    source: z.enum(['dm', 'group']).optional(),
    group: groupJidSchema.optional(),
    q: z.string().min(1).max(100).optional(),
    limit: limit(50),
    cursor,
  })
  .strict()

export const contactSchema = z.object({
  jid: z.string(),
  name: z.string().nullable(),
  phone: z.string().nullable(),
  lid: z.string().nullable(),
  dm: z.boolean(),
  groups: z.array(z.string()),
})
export const contactsResponse = z.object({ items: z.array(contactSchema), nextCursor: z.string() })

export const presenceBody = z.object({ state: z.enum(['composing', 'recording', 'paused']) }).strict()

export const simMessageBody = z
  .object({
    chatId: chatJidSchema,
    chatIdAlt: chatJidSchema.optional(),
    fromMe: z.boolean().optional(),
    participant: userJidSchema.optional(),
    text: z.string().min(1).max(65_536),
    id: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[\x21-\x7e]+$/, 'expected printable ASCII without spaces')
      .optional(),
    timestamp: iso
      .refine((t) => {
        const ms = Date.parse(t)
        return ms >= MIN_EPOCH_MS && ms <= MAX_EPOCH_MS
      }, 'expected a time between 2009 and 2100')
      .optional(),
    pushName: z.string().max(256).optional(),
    origin: z.enum(['customer', 'phone', 'bot', 'crm', 'api']).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.chatIdAlt && b.chatIdAlt.endsWith('@g.us') !== b.chatId.endsWith('@g.us')) {
      ctx.addIssue({
        code: 'custom',
        path: ['chatIdAlt'],
        message: 'must be the same kind of chat as chatId',
      })
    }
    if (b.chatId.endsWith('@g.us') && !b.fromMe && !b.participant) {
      ctx.addIssue({
        code: 'custom',
        path: ['participant'],
        message: 'required for a customer message in a group',
      })
    }
    if (b.origin === 'customer' && b.fromMe) {
      ctx.addIssue({
        code: 'custom',
        path: ['origin'],
        message: 'a fromMe message cannot come from the customer',
      })
    }
  })

export const simMessageResponse = z.object({
  accepted: z.literal(true),
  messageId: z.string(),
  timestamp: iso,
})

export const simActionsQuery = z
  .object({
    after: z
      .string()
      .refine((v) => {
        // A Redis stream id: two unsigned 64-bit numbers.
        const m = /^(\d{1,20})-(\d{1,20})$/.exec(v)
        return m !== null && BigInt(m[1]!) <= U64_MAX && BigInt(m[2]!) <= U64_MAX
      }, 'expected the seq of an action')
      .optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  })
  .strict()

export const simActionSchema = z.object({
  seq: z.string(),
  at: iso,
  kind: z.enum(['read', 'chatModify', 'presence']),
  jid: z.string().optional(),
  keys: z.array(z.record(z.string(), z.unknown())).optional(),
  modification: z.string().optional(),
  state: z.string().optional(),
  lastMessage: z.record(z.string(), z.unknown()).optional(),
})
export const simActionsResponse = z.object({
  items: z.array(simActionSchema),
  lastSeq: z.string().nullable(),
})

export type ChatDto = z.infer<typeof chatSchema>
export type SessionDto = z.infer<typeof sessionSchema>
export type SessionDetailDto = z.infer<typeof sessionDetailSchema>
export type ContactDto = z.infer<typeof contactSchema>
export type SimActionDto = z.infer<typeof simActionSchema>
