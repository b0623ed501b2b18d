import { z } from 'zod'
import { type JidRole, jidProblem } from './jid.js'

/**
 * The normalised stream of domain events a WhatsApp transport (Baileys or sim) feeds into the inbox.
 * Every event is validated here before it may touch stored state.
 */

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/

export const sessionIdSchema = z.string().regex(ID, 'expected a session id (letters, digits, "-", "_")')
/** A jid of this role by the full grammar (domain/jid.ts); the message says what is wrong and where. */
export function jidSchema(role: JidRole, expected: string) {
  return z.string().superRefine((jid, ctx) => {
    const problem = jidProblem(jid, role)
    if (problem) ctx.addIssue({ code: 'custom', message: `expected ${expected}: ${problem}` })
  })
}
export const chatJidSchema = jidSchema('chat', 'a chat jid (…@s.whatsapp.net, …@lid or …@g.us)')
export const userJidSchema = jidSchema('user', 'a user jid (…@s.whatsapp.net or …@lid)')
export const groupJidSchema = jidSchema('group', 'a group jid (…@g.us)')
/** Milliseconds since the epoch, between 2009 (WhatsApp's birth) and 2100. */
export const epochMsSchema = z
  .number()
  .int()
  .min(1_230_768_000_000, 'expected epoch milliseconds')
  .max(4_102_444_800_000, 'expected epoch milliseconds')
export const messageIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'expected printable ASCII without spaces')

/** The WhatsApp message key exactly as received: receipts and chatModify need it as it was. */
export const messageKeySchema = z.object({
  remoteJid: chatJidSchema,
  fromMe: z.boolean(),
  id: messageIdSchema,
  participant: userJidSchema.optional(),
})
export type MessageKey = z.infer<typeof messageKeySchema>

/** `auto`: a WhatsApp Business greeting or away message (sent by the Business app itself). */
export const messageOriginSchema = z.enum(['customer', 'phone', 'bot', 'crm', 'api', 'auto'])
export type MessageOrigin = z.infer<typeof messageOriginSchema>

export const mediaKindSchema = z.enum(['image', 'video', 'audio', 'document', 'sticker', 'other'])

const base = { sessionId: sessionIdSchema }

export const messageEventSchema = z
  .object({
    ...base,
    type: z.literal('message'),
    key: messageKeySchema,
    /** The other form of the chat jid (phone number vs LID) when WhatsApp told us (`remoteJidAlt`). */
    chatJidAlt: chatJidSchema.optional(),
    participantAlt: userJidSchema.optional(),
    timestamp: epochMsSchema,
    text: z.string().max(65_536).optional(),
    media: mediaKindSchema.optional(),
    pushName: z.string().max(256).optional(),
    /** Who wrote it: customers write inbound; outbound comes from the phone, a bot, the CRM or our API. */
    origin: messageOriginSchema.optional(),
    /** `live` = delivered now (Baileys `notify`); `backlog` = offline/history catch-up (`append`). */
    delivery: z.enum(['live', 'backlog']).default('live'),
    /**
     * A customer message whose content did not decrypt (yet): Baileys' CIPHERTEXT placeholder. It counts
     * (unanswered, unread, SLA) but gets no receipt; its content may follow under the same key.
     */
    undecrypted: z.boolean().optional(),
  })
  .superRefine((e, ctx) => {
    if (e.key.remoteJid.endsWith('@g.us') && !e.key.fromMe && !e.key.participant) {
      ctx.addIssue({ code: 'custom', path: ['key', 'participant'], message: 'required for a group message' })
    }
    if (e.chatJidAlt && e.chatJidAlt.endsWith('@g.us') !== e.key.remoteJid.endsWith('@g.us')) {
      ctx.addIssue({
        code: 'custom',
        path: ['chatJidAlt'],
        message: 'must be the same kind of chat as key.remoteJid',
      })
    }
    if (e.origin === 'customer' && e.key.fromMe) {
      ctx.addIssue({
        code: 'custom',
        path: ['origin'],
        message: 'a fromMe message cannot come from the customer',
      })
    }
  })

export const chatReadEventSchema = z.object({
  ...base,
  type: z.literal('chat.read'),
  chatJid: chatJidSchema,
  at: epochMsSchema,
  /**
   * `whatsapp`: read by a person on a device (pending receipts up to `at` are moot); `api`: our local
   * read only; `self`: WhatsApp accepted a read we performed (our receipt or chatModify): it never cancels
   * pending receipts.
   */
  source: z.enum(['whatsapp', 'api', 'self']).default('whatsapp'),
  /**
   * Our own receipt for these customer messages: the chat is read up to the newest of them that we
   * know (WhatsApp clears the badge on every linked device); `at` is only the instant of the receipt.
   */
  upToIds: z.array(messageIdSchema).min(1).max(1000).optional(),
})

export const chatMarkedUnreadEventSchema = z.object({
  ...base,
  type: z.literal('chat.markedUnread'),
  chatJid: chatJidSchema,
  at: epochMsSchema,
})

export const chatMetaEventSchema = z.object({
  ...base,
  type: z.literal('chat.meta'),
  chatJid: chatJidSchema,
  name: z.string().max(256).optional(),
  archived: z.boolean().optional(),
  /**
   * From history sync (the state of chats from before pairing): applied to a chat we know (a name only
   * where it has none), else remembered for when the chat first appears; no empty chat is created.
   */
  fromHistory: z.boolean().optional(),
  /** History sync only: the phone had marked the chat unread before we paired. */
  markedUnread: z.boolean().optional(),
})

export const noReplyNeededEventSchema = z.object({
  ...base,
  type: z.literal('chat.noReplyNeeded'),
  chatJid: chatJidSchema,
  at: epochMsSchema,
})

export const ownerChangedEventSchema = z.object({
  ...base,
  type: z.literal('chat.owner'),
  chatJid: chatJidSchema,
  /** CRM user id, or null for unassigned. */
  owner: z.string().regex(ID).nullable(),
})

export const countersResetEventSchema = z.object({
  ...base,
  type: z.literal('counters.reset'),
  /** One chat, or every chat of the session when omitted. */
  chatJid: chatJidSchema.optional(),
  at: epochMsSchema,
  /** Only chats this CRM user owns at the moment of the reset (checked atomically per chat). */
  owner: z.string().regex(ID).optional(),
})

export const lidMappingEventSchema = z.object({
  ...base,
  type: z.literal('lid.mapping'),
  lid: userJidSchema.refine((j) => j.endsWith('@lid'), 'expected a …@lid jid'),
  pn: userJidSchema.refine((j) => j.endsWith('@s.whatsapp.net'), 'expected a …@s.whatsapp.net jid'),
})

export const contactEventSchema = z.object({
  ...base,
  type: z.literal('contact'),
  jid: userJidSchema,
  jidAlt: userJidSchema.optional(),
  /** The name saved in our address book. */
  name: z.string().max(256).optional(),
  /**
   * A WhatsApp Business sender's verified name (it comes with every message of theirs): shown when no
   * name is saved, and never overwrites a saved one.
   */
  verifiedName: z.string().max(256).optional(),
  /** The name the person chose for themselves (WhatsApp's push name, `notify`): shown after a saved one. */
  pushName: z.string().max(256).optional(),
})

const inboxEventUnion = z.discriminatedUnion('type', [
  messageEventSchema,
  chatReadEventSchema,
  chatMarkedUnreadEventSchema,
  chatMetaEventSchema,
  noReplyNeededEventSchema,
  ownerChangedEventSchema,
  countersResetEventSchema,
  lidMappingEventSchema,
  contactEventSchema,
])

export const INBOX_EVENT_TYPES = inboxEventUnion.options.map((o) => o.shape.type.value)

/** The union, preceded by a check of `type` alone so an unknown kind is named precisely. */
export const inboxEventSchema = z
  .object({ type: z.enum(INBOX_EVENT_TYPES as [string, ...string[]]) }, 'expected an object')
  .loose()
  .pipe(inboxEventUnion)

export type InboxEvent = z.infer<typeof inboxEventSchema>
export type InboxEventInput = z.input<typeof inboxEventUnion>
export type MessageEvent = z.infer<typeof messageEventSchema>
