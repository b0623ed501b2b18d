import { DateTime } from 'luxon'
import { z } from 'zod'
import { mediaKindSchema, messageIdSchema } from '../domain/events.js'
import { type ChatType, chatTypeOf, isChatJid, isUserJid } from '../domain/jid.js'
import type { Rules } from '../rules/compile.js'
import { durationSchema, parseDuration } from '../rules/duration.js'
import { parseYamlText, readRulesFile } from '../rules/load.js'
import { formatIssues } from '../rules/report.js'
import { ID_MESSAGE, ID_PATTERN } from '../rules/schema.js'

/**
 * A dry-run scenario: a YAML timeline of what happens in one session (customers writing, replies from
 * the phone, a bot or the CRM, owner changes, resets, ...) from a start instant. See
 * config/scenarios/README.md for the format; every problem is reported with its path.
 */

export const EVENT_TYPES = [
  'customer',
  'reply',
  'no-reply-needed',
  'owner',
  'reset',
  'read',
  'remind',
] as const
export type ScenarioEventType = (typeof EVENT_TYPES)[number]

const AT_MESSAGE = 'expected +<duration> or an ISO time'
const ISO_MESSAGE = 'expected an ISO time with an offset, like 2026-11-20T16:30:00+01:00'
const OFFSET = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/
const ISO_SHAPE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/

/** An instant as written: relative to `start` (`+2m`) or absolute (ISO with offset). */
type When = { relative: number } | { absolute: number }

function parseIso(text: string): number | { problem: string } {
  if (!ISO_SHAPE.test(text)) return { problem: ISO_MESSAGE }
  if (!OFFSET.test(text)) return { problem: 'an ISO time needs its offset (Z or +01:00)' }
  const parsed = DateTime.fromISO(text, { setZone: true })
  return parsed.isValid ? parsed.toMillis() : { problem: `not a valid time: ${parsed.invalidExplanation}` }
}

const isoSchema = z
  .string({ error: (issue) => (issue.input === undefined ? 'required' : ISO_MESSAGE) })
  .transform((text, ctx) => {
    const at = parseIso(text.trim())
    if (typeof at === 'number') return at
    ctx.addIssue({ code: 'custom', message: at.problem, input: text })
    return z.NEVER
  })

const whenSchema = z
  .string({ error: (issue) => (issue.input === undefined ? 'required' : AT_MESSAGE) })
  .transform((raw, ctx): When => {
    const text = raw.trim()
    if (text.startsWith('+')) {
      const ms = parseDuration(text.slice(1))
      if (ms !== undefined) return { relative: ms }
      ctx.addIssue({ code: 'custom', message: `${AT_MESSAGE} (bad duration after "+")`, input: raw })
      return z.NEVER
    }
    if (!ISO_SHAPE.test(text)) {
      ctx.addIssue({ code: 'custom', message: AT_MESSAGE, input: raw })
      return z.NEVER
    }
    const at = parseIso(text)
    if (typeof at === 'number') return { absolute: at }
    ctx.addIssue({ code: 'custom', message: at.problem, input: raw })
    return z.NEVER
  })

const CHAT_MESSAGE = 'expected phone digits (like 4915112345678) or a jid (…@s.whatsapp.net, …@lid or …@g.us)'
const PHONE = /^\+?\d{5,20}$/

/** Phone digits or a jid; YAML reads unquoted digits as a number, which is accepted too. */
function jidSchema(test: (jid: string) => boolean, message: string) {
  return z.preprocess(
    (value) => (typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value),
    z
      .string({ error: (issue) => (issue.input === undefined ? 'required' : message) })
      .transform((raw, ctx) => {
        const text = raw.trim().replaceAll(' ', '')
        const jid = PHONE.test(text) ? `${text.replace('+', '')}@s.whatsapp.net` : text
        if (test(jid)) return jid
        ctx.addIssue({ code: 'custom', message, input: raw })
        return z.NEVER
      }),
  )
}

const chatSchema = jidSchema(isChatJid, CHAT_MESSAGE)
const participantSchema = jidSchema(
  isUserJid,
  'expected phone digits or a user jid (…@s.whatsapp.net or …@lid)',
)
const userIdSchema = z.string().regex(ID_PATTERN, ID_MESSAGE)

const base = { at: whenSchema, chat: chatSchema }

const customerSchema = z.strictObject({
  ...base,
  type: z.literal('customer'),
  text: z.string().max(65_536).optional(),
  media: mediaKindSchema.optional(),
  /** Required in a group: who wrote. */
  participant: participantSchema.optional(),
  /** The customer's WhatsApp name (becomes the chat's name in a DM). */
  name: z.string().min(1).max(256).optional(),
  /** The message id; repeat one to model a duplicate delivery. Default: generated. */
  id: messageIdSchema.optional(),
  /** WhatsApp's timestamp when it differs from the arrival (`at`): a late or backlog delivery. */
  sentAt: whenSchema.optional(),
})

const replySchema = z.strictObject({
  ...base,
  type: z.literal('reply'),
  /** Who answered: the phone (a person), a bot, or the CRM. */
  from: z.enum(['phone', 'bot', 'crm']).default('phone'),
  text: z.string().max(65_536).optional(),
  id: messageIdSchema.optional(),
})

const noReplyNeededSchema = z.strictObject({ ...base, type: z.literal('no-reply-needed') })

const ownerSchema = z.strictObject({
  ...base,
  type: z.literal('owner'),
  /** A user id, or null for unassigned. */
  owner: userIdSchema.nullable(),
})

const resetSchema = z.strictObject({
  at: whenSchema,
  type: z.literal('reset'),
  /** One chat; every chat of the session when left out. */
  chat: chatSchema.optional(),
  /** Only chats this user owns. */
  owner: userIdSchema.optional(),
})

const readSchema = z.strictObject({ ...base, type: z.literal('read') })

const remindSchema = z.strictObject({
  ...base,
  type: z.literal('remind'),
  /** When the reminder is due, from `at`. */
  after: durationSchema,
  clearFirst: z.boolean().optional(),
  cancelOn: z.array(z.enum(['inbound', 'outbound'])).optional(),
})

const eventUnion = z.discriminatedUnion('type', [
  customerSchema,
  replySchema,
  noReplyNeededSchema,
  ownerSchema,
  resetSchema,
  readSchema,
  remindSchema,
])

/** `type` is checked alone first, so an unknown kind is named precisely (as in domain/events.ts). */
const eventSchema = z
  .object({ type: z.enum(EVENT_TYPES) }, 'expected an event object (at, type, chat, ...)')
  .loose()
  .pipe(eventUnion)
  .superRefine((e, ctx) => {
    if (e.type !== 'customer') return
    const group = chatTypeOf(e.chat) === 'group'
    if (group && !e.participant) {
      ctx.addIssue({
        code: 'custom',
        path: ['participant'],
        message: 'required for a customer message in a group',
      })
    }
    if (!group && e.participant) {
      ctx.addIssue({ code: 'custom', path: ['participant'], message: 'only for group chats' })
    }
  })

type RawEvent = z.output<typeof eventUnion>

export const scenarioSchema = z
  .strictObject({
    /** The instant `+0s` stands for. */
    start: isoSchema,
    /** The session (id in the rules) the scenario plays in. */
    session: z.string().regex(ID_PATTERN, ID_MESSAGE),
    /** Seed of the receipt delays' random draws. */
    seed: z.number().int().min(0).max(4_294_967_295).default(1),
    /** Keep the virtual clock running until then (scheduled resets, late levels). */
    until: whenSchema.optional(),
    events: z.array(eventSchema).min(1, 'needs at least one event'),
  })
  .transform((s, ctx) => {
    const resolve = (w: When) => ('relative' in w ? s.start + w.relative : w.absolute)
    let previous = s.start
    const events = s.events.map((e, index) => {
      const at = resolve(e.at)
      if (at < s.start) {
        ctx.addIssue({ code: 'custom', path: ['events', index, 'at'], message: 'before start' })
      } else if (at < previous) {
        ctx.addIssue({
          code: 'custom',
          path: ['events', index, 'at'],
          message: `before the previous event (events are listed in time order)`,
        })
      }
      previous = Math.max(previous, at)
      return toEvent(e, index, at, resolve)
    })
    const until = s.until ? resolve(s.until) : null
    if (until !== null && until < previous) {
      ctx.addIssue({ code: 'custom', path: ['until'], message: 'before the last event' })
    }
    return { start: s.start, session: s.session, seed: s.seed, until, events }
  })

interface EventBase {
  /** Position in the file's `events` list. */
  index: number
  /** Epoch ms. */
  at: number
}

export type ScenarioEvent = EventBase &
  (
    | {
        type: 'customer'
        chat: string
        chatType: ChatType
        id: string
        /** WhatsApp's timestamp (defaults to `at`). */
        sentAt: number
        text?: string
        media?: z.output<typeof mediaKindSchema>
        participant?: string
        name?: string
      }
    | {
        type: 'reply'
        chat: string
        chatType: ChatType
        id: string
        from: 'phone' | 'bot' | 'crm'
        text?: string
      }
    | { type: 'no-reply-needed'; chat: string }
    | { type: 'owner'; chat: string; owner: string | null }
    | { type: 'reset'; chat?: string; owner?: string }
    | { type: 'read'; chat: string }
    | {
        type: 'remind'
        chat: string
        after: number
        clearFirst?: boolean
        cancelOn?: Array<'inbound' | 'outbound'>
      }
  )

export type Scenario = z.output<typeof scenarioSchema>

function toEvent(e: RawEvent, index: number, at: number, resolve: (w: When) => number): ScenarioEvent {
  const id = (prefix: string, given?: string) => given ?? `DRY${prefix}${String(index).padStart(4, '0')}`
  switch (e.type) {
    case 'customer': {
      const { at: _at, sentAt, id: given, ...rest } = e
      return {
        ...rest,
        index,
        at,
        chatType: chatTypeOf(e.chat),
        id: id('C', given),
        sentAt: sentAt ? resolve(sentAt) : at,
      }
    }
    case 'reply': {
      const { at: _at, id: given, ...rest } = e
      return { ...rest, index, at, chatType: chatTypeOf(e.chat), id: id('R', given) }
    }
    default: {
      const { at: _at, ...rest } = e
      return { ...rest, index, at } as ScenarioEvent
    }
  }
}

export type ScenarioResult = { ok: true; scenario: Scenario } | { ok: false; problems: string[] }

/** Validates parsed YAML; every problem as `path: message`. */
export function validateScenario(input: unknown): ScenarioResult {
  const result = scenarioSchema.safeParse(input, { reportInput: true })
  if (!result.success) return { ok: false, problems: formatIssues(result.error.issues) }
  return { ok: true, scenario: result.data }
}

export function parseScenarioText(text: string): ScenarioResult {
  const parsed = parseYamlText(text)
  return parsed.ok ? validateScenario(parsed.value) : parsed
}

export async function loadScenarioFile(path: string): Promise<ScenarioResult> {
  const read = await readRulesFile(path)
  return read.ok ? parseScenarioText(read.text) : read
}

/** What the scenario names that the rules must know: the session, and users (same org). */
export function checkScenarioAgainstRules(scenario: Scenario, rules: Rules): string[] {
  const session = rules.sessions.get(scenario.session)
  if (!session) {
    const known = [...rules.sessions.keys()]
    return [
      `session: unknown session "${scenario.session}" (the rules have ${known.length ? known.join(', ') : 'none'})`,
    ]
  }
  const problems: string[] = []
  for (const e of scenario.events) {
    const owner = e.type === 'owner' || e.type === 'reset' ? e.owner : undefined
    if (!owner) continue
    const user = rules.users.get(owner)
    if (!user) problems.push(`events[${e.index}].owner: unknown user "${owner}"`)
    else if (user.org !== session.org) {
      problems.push(`events[${e.index}].owner: user "${owner}" is in org ${user.org}, not ${session.org}`)
    }
  }
  return problems
}
