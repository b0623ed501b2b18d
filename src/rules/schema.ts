import { CronExpressionParser } from 'cron-parser'
import { isSupportedCountry } from 'libphonenumber-js'
import { z } from 'zod'
import { durationSchema, formatDuration, positiveDurationSchema } from './duration.js'
import { checkReferences } from './references.js'

// Ids end up in BullMQ job ids and Redis keys, where `:` is a separator and is forbidden in job ids.
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
export const ID_MESSAGE =
  'expected an id: a letter or digit, then up to 63 letters, digits, "-" or "_" (no ":")'

export const idSchema = z.string().regex(ID_PATTERN, ID_MESSAGE)

/** True if Intl (and so luxon) knows the IANA zone. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone })
    return true
  } catch {
    return false
  }
}

export const timeZoneSchema = z.string().refine(isValidTimeZone, {
  error: (issue) => `unknown time zone "${issue.input}" (expected an IANA name like Europe/Berlin)`,
})

const TIME_OF_DAY = /^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$/

/** Minutes since midnight of an `HH:MM` string already validated by the schema. */
export function minutesOfDay(hhmm: string): number {
  const [h, m] = hhmm.split(':')
  return Number(h) * 60 + Number(m)
}

const timeOfDaySchema = z.string().regex(TIME_OF_DAY, 'expected a time "HH:MM" between 00:00 and 24:00')

/** One day's opening intervals: each start < end, in order, not overlapping (touching is fine). */
const intervalSchema = z.tuple([timeOfDaySchema, timeOfDaySchema], {
  error: (issue) =>
    issue.code === 'too_small' || issue.code === 'too_big'
      ? 'expected an interval ["HH:MM", "HH:MM"]'
      : undefined,
})

const dayHoursSchema = z.array(intervalSchema).superRefine((intervals, ctx) => {
  let previous: [string, string] | undefined
  for (const [index, interval] of intervals.entries()) {
    const [start, end] = interval
    if (minutesOfDay(end) <= minutesOfDay(start)) {
      ctx.addIssue({
        code: 'custom',
        path: [index],
        message: `interval ends (${end}) before it starts (${start})`,
      })
      continue
    }
    if (previous && minutesOfDay(start) < minutesOfDay(previous[1])) {
      const message =
        minutesOfDay(start) < minutesOfDay(previous[0])
          ? 'intervals must be listed in time order'
          : `overlaps the previous interval ${previous[0]}-${previous[1]}`
      ctx.addIssue({ code: 'custom', path: [index], message })
    }
    previous = interval
  }
})

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const
export type Weekday = (typeof WEEKDAYS)[number]

const isoDateSchema = z.string().refine((text) => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)
  if (!match) return false
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const date = new Date(Date.UTC(year, month - 1, day))
  // Date.UTC rolls 2026-02-30 over to March; a round trip catches impossible dates.
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}, 'expected a date "YYYY-MM-DD"')

const calendarSchema = z.strictObject({
  id: idSchema,
  timeZone: timeZoneSchema,
  // A missing day is closed.
  hours: z
    .strictObject(
      Object.fromEntries(WEEKDAYS.map((day) => [day, dayHoursSchema.optional()])) as {
        [D in Weekday]: z.ZodOptional<typeof dayHoursSchema>
      },
    )
    .refine(
      (hours) => WEEKDAYS.some((day) => (hours[day]?.length ?? 0) > 0),
      'a calendar needs at least one opening interval',
    ),
  holidays: z.array(isoDateSchema).default([]),
})

/**
 * An org's HubSpot settings. `owner` says which side owns a contact's owner: `hubspot` (default) =
 * HubSpot is the source of truth, its owner changes move the chat and Tickbridge writes
 * `hubspot_owner_id` only when Tickbridge itself changed the chat's owner; `tickbridge` = every sync
 * writes the chat's owner and HubSpot's owner changes are ignored; `off` = neither direction.
 * `defaultRegion` reads numbers stored without a country code (a contact's own country wins).
 * `createContacts` creates a contact for a chat no contact matches. `fillEmptyOwner` (with `owner:
 * hubspot`): a contact HubSpot holds without an owner gets the chat's owner written.
 */
const orgHubSpotSchema = z.strictObject({
  timeZone: timeZoneSchema.default('UTC'),
  owner: z.enum(['hubspot', 'tickbridge', 'off']).default('hubspot'),
  defaultRegion: z
    .string()
    .refine((code) => /^[A-Z]{2}$/.test(code) && isSupportedCountry(code), {
      error: (issue) => `unknown country "${issue.input}" (expected an ISO 3166 code like DE or US)`,
    })
    .optional(),
  createContacts: z.boolean().default(false),
  fillEmptyOwner: z.boolean().default(true),
})

const orgSchema = z.strictObject({
  id: idSchema,
  name: z.string().min(1).optional(),
  hubspot: orgHubSpotSchema.prefault({}),
})

const fractionSchema = z.number().min(0).max(1)

// The fields of the human-like reading delay; the defaults block fills each, a session may override any.
const delayFields = {
  baseMin: durationSchema,
  baseMax: durationSchema,
  wordsPerMinute: z.number().int().positive(),
  jitter: fractionSchema,
  max: durationSchema,
  mediaExtra: durationSchema,
  batchDiscount: fractionSchema,
  backlogThreshold: durationSchema,
  /** A backlog's receipts spread over up to this long per chat (uniform jitter), like a person catching up. */
  backlogSpread: durationSchema,
}

const seenPolicyEnum = z.enum(['auto', 'manual', 'off'])

const seenDefaultsSchema = z.strictObject({
  policy: seenPolicyEnum.default('manual'),
  markSeenBeforeReply: z.boolean().default(true),
  delay: z
    .strictObject({
      baseMin: delayFields.baseMin.default(800),
      baseMax: delayFields.baseMax.default(2_000),
      wordsPerMinute: delayFields.wordsPerMinute.default(200),
      jitter: delayFields.jitter.default(0.25),
      max: delayFields.max.default(20_000),
      mediaExtra: delayFields.mediaExtra.default(1_500),
      batchDiscount: delayFields.batchDiscount.default(0.5),
      backlogThreshold: delayFields.backlogThreshold.default(60_000),
      backlogSpread: delayFields.backlogSpread.default(15_000),
    })
    .prefault({}),
})

const sessionSeenSchema = z.strictObject({
  policy: seenPolicyEnum.optional(),
  markSeenBeforeReply: z.boolean().optional(),
  delay: z.strictObject(delayFields).partial().optional(),
})

const sessionSchema = z.strictObject({
  id: idSchema,
  org: idSchema,
  label: z.string().min(1).optional(),
  // null (or absent) leaves new chats unassigned.
  defaultOwner: idSchema.nullable().default(null),
  seen: sessionSeenSchema.optional(),
  /** Overrides `whatsapp.sendRate` for this session. */
  sendRate: z.strictObject({ max: z.number().int().positive(), per: positiveDurationSchema }).optional(),
})

/** Lists whose entries must not repeat (capabilities, supervises, ...). */
function uniqueItems<T extends z.ZodType>(item: T) {
  return z.array(item).superRefine((items, ctx) => {
    const seen = new Set<unknown>()
    for (const [index, value] of items.entries()) {
      if (seen.has(value))
        ctx.addIssue({ code: 'custom', path: [index], message: `"${value}" is listed twice` })
      seen.add(value)
    }
  })
}

const roleEnum = z.enum(['agent', 'supervisor'])

const userSchema = z.strictObject({
  id: idSchema,
  org: idSchema,
  name: z.string().min(1).optional(),
  // YAML reads an unquoted 12345 as a number; accept it, but keep owner ids as strings like HubSpot does.
  hubspotOwnerId: z
    .preprocess(
      (value) =>
        typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? String(value) : value,
      z.string().regex(/^\d{1,20}$/, 'expected a HubSpot owner id (digits only)'),
    )
    .optional(),
  role: roleEnum,
  takesNewClients: z.boolean().default(false),
  team: z.string().min(1).optional(),
  supervises: uniqueItems(idSchema).default([]),
})

/** Keys of an object where exactly one must be set (actions, reset scopes). */
function exactlyOne(names: readonly string[], what: string) {
  const list = names.length === 2 ? names.join(' or ') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`
  return {
    check(value: Record<string, unknown>, ctx: z.RefinementCtx) {
      const present = names.filter((name) => value[name] !== undefined)
      if (present.length === 0) ctx.addIssue({ code: 'custom', message: `expected one ${what}: ${list}` })
      if (present.length > 1) {
        ctx.addIssue({
          code: 'custom',
          message: `expected exactly one ${what}, got ${present.join(' and ')} (one per list item)`,
        })
      }
    },
    // A misspelt key already says "unknown field"; "expected one action" on top would be noise.
    when: (payload: z.core.ParsePayload) =>
      !payload.issues.some((issue) => issue.code === 'unrecognized_keys'),
  }
}

const ACTION_NAMES = ['markUnread', 'setState', 'crmTask', 'reassign', 'webhook'] as const
const slaStateEnum = z.enum(['ok', 'warning', 'breached'])
const taskPriorityEnum = z.enum(['LOW', 'MEDIUM', 'HIGH'])

const markUnreadSchema = z.strictObject({})
const crmTaskSchema = z.strictObject({
  // "owner" = the chat's owner; anything else is a user id.
  assignTo: idSchema,
  priority: taskPriorityEnum.default('HIGH'),
  subject: z.string().min(1),
})
const reassignSchema = z.strictObject({ to: idSchema }) // "supervisor" = the owner's supervisor
const webhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
  secretEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the NAME of an environment variable')
    .optional(),
})

export type SlaAction =
  | { markUnread: z.output<typeof markUnreadSchema> }
  | { setState: z.output<typeof slaStateEnum> }
  | { crmTask: z.output<typeof crmTaskSchema> }
  | { reassign: z.output<typeof reassignSchema> }
  | { webhook: z.output<typeof webhookSchema> }

const actionRule = exactlyOne(ACTION_NAMES, 'action')
const actionSchema = z
  .strictObject({
    // `markUnread: true` reads better in YAML than `markUnread: {}`; both mean the same.
    markUnread: z.preprocess((value) => (value === true ? {} : value), markUnreadSchema),
    setState: slaStateEnum,
    crmTask: crmTaskSchema,
    reassign: reassignSchema,
    webhook: webhookSchema,
  })
  .partial()
  .superRefine(actionRule.check, { when: actionRule.when })
  .transform((action) => action as SlaAction)

const levelSchema = z.strictObject({
  after: positiveDurationSchema,
  actions: z.array(actionSchema).min(1, 'needs at least one action'),
})

const levelsSchema = z
  .array(levelSchema)
  .min(1, 'needs at least one level')
  .superRefine((levels, ctx) => {
    for (let i = 1; i < levels.length; i++) {
      const previous = levels[i - 1]!.after
      if (levels[i]!.after <= previous) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'after'],
          message: `must be later than the previous level (${formatDuration(previous)})`,
        })
      }
    }
  })

const nonEmpty = 'must not be empty (leave it out to match all)'

const policySchema = z
  .strictObject({
    id: idSchema,
    // Every listed criterion must match; a missing one matches anything.
    match: z
      .strictObject({
        sessions: z.array(idSchema).min(1, nonEmpty).optional(),
        chatType: z.enum(['dm', 'group']).optional(),
        teams: z.array(z.string().min(1)).min(1, nonEmpty).optional(),
        roles: z.array(roleEnum).min(1, nonEmpty).optional(),
      })
      .prefault({}),
    calendar: z
      .string()
      .refine((value) => value === '24/7' || ID_PATTERN.test(value), 'expected "24/7" or a calendar id')
      .default('24/7'),
    firstResponse: positiveDurationSchema,
    nextResponse: positiveDurationSchema.optional(),
    levels: levelsSchema,
  })
  .transform((policy) => ({ ...policy, nextResponse: policy.nextResponse ?? policy.firstResponse }))

const scopeRule = exactlyOne(['org', 'session'], 'scope key')
const resetSchema = z
  .strictObject({
    id: idSchema,
    cron: z.string(),
    timeZone: timeZoneSchema,
    scope: z
      .strictObject({ org: idSchema, session: idSchema })
      .partial()
      .superRefine(scopeRule.check, { when: scopeRule.when })
      .transform((scope) => scope as { org: string } | { session: string }),
  })
  .superRefine((reset, ctx) => {
    const problem = cronProblem(reset.cron, reset.timeZone)
    if (problem) ctx.addIssue({ code: 'custom', path: ['cron'], message: problem })
  })

/** Why a 5-field cron expression is unusable, or undefined if it is fine. */
export function cronProblem(expression: string, timeZone?: string): string | undefined {
  const fields = expression.trim().split(/\s+/)
  if (fields.length !== 5) {
    return `expected a 5-field cron expression (minute hour day-of-month month day-of-week), got ${fields.length} field(s)`
  }
  try {
    const tz = timeZone && isValidTimeZone(timeZone) ? timeZone : undefined
    CronExpressionParser.parse(expression, tz ? { tz } : {})
    return undefined
  } catch (error) {
    return `invalid cron expression: ${(error as Error).message}`
  }
}

/** What an org's key may do on that org's routes. */
const ORG_CAPABILITIES = ['read', 'send', 'admin'] as const
/** `operator`: the deployment's queue dashboard (every org's jobs), and nothing of any org. */
const capabilityEnum = z.enum([...ORG_CAPABILITIES, 'operator'])

/** Requests one API key may make per window, shared by every web process through Redis. */
const rateLimitSchema = z.strictObject({
  max: z.number().int().min(1, 'must be at least 1').max(1_000_000),
  per: positiveDurationSchema,
})

/**
 * An org key (`org` and some of read, send, admin) reaches that org's routes. An operator key has no
 * `org` and the capability `operator` alone: the queue dashboard shows every org's jobs, so it is the
 * deployment operator's, and such a key reaches no org route (it would have to pick an org).
 */
const apiKeySchema = z
  .strictObject({
    id: idSchema,
    org: idSchema.optional(),
    // Only the hash is stored, so a leaked config file does not leak keys.
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters (printf %s "$KEY" | sha256sum)'),
    capabilities: uniqueItems(capabilityEnum).min(
      1,
      'must list at least one of read, send, admin (or operator, alone)',
    ),
    /** Overrides `api.rateLimit` for this key. */
    rateLimit: rateLimitSchema.optional(),
  })
  .superRefine((key, ctx) => {
    const operator = key.capabilities.includes('operator')
    if (operator && key.capabilities.length > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['capabilities'],
        message:
          'an operator key has the "operator" capability alone (it reaches no org route): make a separate org key for read, send or admin',
      })
    if (operator && key.org !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['org'],
        message: 'an operator key belongs to no org: remove "org" (or remove "operator" for an org key)',
      })
    if (!operator && key.org === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['org'],
        message: 'required: the org whose sessions the key reaches (only an operator key has none)',
      })
  })

export const rulesSchema = z
  .strictObject({
    version: z.literal(1),
    orgs: z.array(orgSchema).min(1, 'needs at least one org'),
    sessions: z.array(sessionSchema).default([]),
    users: z.array(userSchema).default([]),
    calendars: z.array(calendarSchema).default([]),
    seen: z.strictObject({ defaults: seenDefaultsSchema.prefault({}) }).prefault({}),
    reminders: z
      .strictObject({
        defaults: z
          .strictObject({
            cancelOn: uniqueItems(z.enum(['inbound', 'outbound'])).default(['inbound']),
            clearFirst: z.boolean().default(true),
            appStateRetryHorizon: positiveDurationSchema.default(86_400_000),
          })
          .prefault({}),
      })
      .prefault({}),
    sla: z.strictObject({ policies: z.array(policySchema).default([]) }).prefault({}),
    counters: z
      .strictObject({
        botRepliesCount: z.boolean().default(true),
        /**
         * How a bot's messages are told apart on a linked device (Baileys): WhatsApp says nothing about
         * which device sent a message of ours, so the bot sends with message ids that start with one
         * of these (Baileys' `sendMessage(jid, content, { messageId })`).
         */
        botMessageIdPrefixes: z
          .array(z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, "-" or "_", at most 32'))
          .max(20)
          .default([]),
        /**
         * WhatsApp Business greeting and away messages: the Business app sends them as the account, and a
         * linked device gets them as our own messages with no flag that says "automatic". Their texts,
         * as set in the app (Business tools > Greeting / Away message), tell them apart; they answer
         * nobody unless `countAsAnswer`.
         */
        automatedReplies: z
          .strictObject({
            texts: z.array(z.string().trim().min(1).max(4096)).max(50).default([]),
            countAsAnswer: z.boolean().default(false),
          })
          .prefault({}),
        crmSync: z
          .strictObject({
            debounce: durationSchema.default(5_000),
            /**
             * Shared by every worker; HubSpot allows 100 (Free/Starter), 190 (Pro/Enterprise) or, with
             * the API limit increase (capacity pack), 250 per 10 s.
             */
            requestsPer10s: z.number().int().min(1).max(250).default(90),
            /** HubSpot's search endpoint allows 5 per second. */
            searchesPerSecond: z.number().int().min(1).max(5).default(4),
          })
          .prefault({}),
        resets: z.array(resetSchema).default([]),
      })
      .prefault({}),
    api: z
      .strictObject({
        rateLimit: rateLimitSchema.default({ max: 600, per: 60_000 }),
        /**
         * Failed authentications (unknown keys) one client address may make per window; then every
         * request from it is 429, a right key included, until the window ends.
         */
        authFailureLimit: rateLimitSchema.default({ max: 20, per: 60_000 }),
      })
      .prefault({}),
    whatsapp: z
      .strictObject({
        /**
         * Stanzas per session that reach WhatsApp (receipts, one per sender; chat modifications;
         * presence), when a session sets none. WhatsApp bans numbers that burst; about 20-30 per
         * minute looks like a busy person.
         */
        sendRate: z
          .strictObject({ max: z.number().int().positive(), per: positiveDurationSchema })
          .default({ max: 25, per: 60_000 }),
        /**
         * Login storm bounds: a connection WhatsApp ends right after login is a full login each time.
         * The reconnect backoff starts over only after a connection stayed open `stableAfter`; past
         * `maxPerHour` logins in a rolling hour the session goes FAILED.
         */
        logins: z
          .strictObject({
            stableAfter: positiveDurationSchema.default(60_000),
            maxPerHour: z.number().int().min(1).max(120).default(10),
          })
          .prefault({}),
      })
      .prefault({}),
    apiKeys: z.array(apiKeySchema).default([]),
  })
  // Run even when parts failed, so one run reports every problem; checkReferences reads defensively.
  .superRefine((config, ctx) => checkReferences(config as unknown, ctx), { when: () => true })

export type RulesInput = z.input<typeof rulesSchema>
export type RulesConfig = z.output<typeof rulesSchema>

export type Org = RulesConfig['orgs'][number]
export type OrgHubSpot = Org['hubspot']
export type Session = RulesConfig['sessions'][number]
export type User = RulesConfig['users'][number]
export type Role = User['role']
export type Calendar = RulesConfig['calendars'][number]
export type SeenDefaults = RulesConfig['seen']['defaults']
export type SeenDelay = SeenDefaults['delay']
export type SeenPolicyMode = SeenDefaults['policy']
export type ReminderDefaults = RulesConfig['reminders']['defaults']
export type SlaPolicy = RulesConfig['sla']['policies'][number]
export type SlaLevel = SlaPolicy['levels'][number]
export type SlaState = z.output<typeof slaStateEnum>
export type CounterReset = RulesConfig['counters']['resets'][number]
export type ApiKey = RulesConfig['apiKeys'][number]
export type Capability = z.output<typeof capabilityEnum>
