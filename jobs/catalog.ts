import { z } from 'zod'
import { chatJidSchema, epochMsSchema, messageKeySchema, sessionIdSchema } from '../src/domain/events.js'
import { defineJob, type Payload } from './job-definition.js'

/**
 * The job catalog: every job Tickbridge runs, defined once. For each: its name, its queue, its job-id
 * scheme, its payload schema and its default options. Producers (planners, services, the SLA ladder)
 * enqueue through it with a typed payload (`JobProducer.add`); processors (jobs/*.ts) are bound to it
 * with `task()` and receive the parsed payload. Nothing else knows a job name or a job-id format.
 *
 * Job ids are deterministic where a producer must find the job again (to cancel or move it) or must not
 * add it twice; BullMQ ids may not contain ":" (a jid with a device part has one), so it becomes "_".
 */

const idSafe = (jid: string) => jid.replaceAll(':', '_')

/** One SLA level of one waiting period of one chat in one session. */
export interface SlaLevelKey {
  sessionId: string
  chatJid: string
  waitSeq: number
  level: number
}

/** Unique per session: a customer writing to two of the team's numbers has one clock in each. */
const slaLevelId = (k: SlaLevelKey) => `sla-${k.sessionId}-${idSafe(k.chatJid)}-${k.waitSeq}-${k.level}`

/** The `action`-th action of a fired SLA level. */
export type SlaActionKey = SlaLevelKey & { action: number }

/**
 * The id of the work an SLA action hands on (a session action, a webhook, a CRM task), deterministic so
 * a resumed firing does not do it twice; webhook receivers get it as the event id.
 */
export const slaActionRef = (k: SlaActionKey) => `${slaLevelId(k)}-${k.action}`

const chatRefSchema = z.object({
  jid: chatJidSchema,
  lastMessage: z.object({ key: messageKeySchema, timestamp: epochMsSchema }),
})

const HOUR = 3600
const DAY = 24 * HOUR

/**
 * Retention, by age and count (BullMQ `removeOnComplete/removeOnFail: { age, count }`, age in seconds).
 * A kept job costs about 1 KB of Redis. Completed jobs are kept where their deterministic id guards
 * against doing the work twice when a resumed SLA level hands it on again (minutes after a crash at
 * most), and long enough for the dashboard's recent history; failed ones for a week, to be inspected.
 */
const KEEP_FAILED = { age: 7 * DAY, count: 1000 }
const KEEP_RECENT = { age: HOUR, count: 200 }

/** Who asked for a session action; the id follows from it. */
export type SessionActionKey = { snoozeOf: string } | { slaAction: SlaActionKey }

export const catalog = {
  sessionAction: defineJob({
    name: 'session-action',
    summary: 'one thing done on the session socket: receipts, chat modifications, presence',
    queue: 'session',
    payload: z.discriminatedUnion('action', [
      z.object({ action: z.literal('read'), keys: z.array(messageKeySchema).min(1).max(1000) }),
      z.object({
        action: z.enum(['markRead', 'markUnread', 'archive', 'unarchive']),
        chat: chatRefSchema,
      }),
      z.object({
        action: z.literal('presence'),
        jid: chatJidSchema,
        state: z.enum(['composing', 'recording', 'paused']),
      }),
    ]),
    jobId: (k: SessionActionKey) => ('snoozeOf' in k ? `${k.snoozeOf}-snooze` : slaActionRef(k.slaAction)),
    defaults: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: KEEP_RECENT,
      removeOnFail: KEEP_FAILED,
    },
  }),

  seenReceipt: defineJob({
    name: 'seen-receipt',
    summary: "the blue ticks for one chat's batch, sent in one readMessages call",
    queue: 'session',
    payload: z.object({ chatJid: chatJidSchema, gen: z.number().int().positive() }),
    /** One job per chat and batch generation. */
    jobId: (k: { chatJid: string; gen: number }) => `seen-${idSafe(k.chatJid)}-${k.gen}`,
    defaults: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: KEEP_FAILED,
    },
  }),

  unreadReminder: defineJob({
    name: 'unread-reminder',
    summary: 'puts the reminder dot on a chat at its due time (unarchive, read, unread)',
    queue: 'session',
    payload: z.object({ reminderId: z.string().regex(/^r[0-9a-f]{16}$/), chatJid: chatJidSchema }),
    jobId: (k: { reminderId: string }) => `reminder-${k.reminderId}`,
    defaults: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: true,
      removeOnFail: KEEP_FAILED,
    },
  }),

  slaLevel: defineJob({
    name: 'sla-level',
    summary: 'one level of an escalation ladder, fired at its due instant',
    queue: 'sla-shard',
    payload: z.object({
      sessionId: sessionIdSchema,
      chatJid: chatJidSchema,
      waitSeq: z.number().int().positive(),
      level: z.number().int().min(0),
      policyId: z.string(),
      dueAt: z.number(),
      /** Start of the waiting period the level belongs to (absent in timers armed before it was added). */
      waitingSince: z.number().optional(),
    }),
    jobId: slaLevelId,
    defaults: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: KEEP_FAILED,
    },
  }),

  slaWebhook: defineJob({
    name: 'sla-webhook',
    summary: 'POSTs an SLA event as signed JSON until the receiver answers 2xx',
    queue: 'webhooks',
    payload: z.object({
      url: z.url(),
      secretEnv: z.string().optional(),
      event: z.record(z.string(), z.unknown()).and(z.object({ id: z.string(), type: z.string() })),
    }),
    jobId: slaActionRef,
    defaults: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: { age: HOUR, count: 1000 },
      removeOnFail: KEEP_FAILED,
    },
  }),

  crmTask: defineJob({
    name: 'crm-task',
    summary: 'creates the HubSpot task an SLA level asked for',
    queue: 'crmTasks',
    payload: z.object({
      sessionId: sessionIdSchema,
      chatJid: chatJidSchema,
      phone: z.string().nullable(),
      assigneeUserId: z.string().nullable(),
      subject: z.string().min(1),
      priority: z.enum(['LOW', 'MEDIUM', 'HIGH']),
      dueAt: z.number(),
    }),
    jobId: slaActionRef,
    defaults: {
      attempts: 12,
      backoff: { type: 'exponential', delay: 5000 },
      removeOnComplete: { age: DAY, count: 1000 },
      removeOnFail: KEEP_FAILED,
    },
  }),

  counterReset: defineJob({
    name: 'counter-reset',
    summary: 'one firing of a counters.resets rule (a job scheduler per rule, the rule id as its id)',
    queue: 'counters',
    // Kept small: the processor reads the rule itself, so a changed scope applies at once.
    payload: z.object({ ruleId: z.string().min(1) }),
    jobId: null,
    defaults: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: { age: 30 * DAY, count: 100 },
      removeOnFail: KEEP_FAILED,
    },
  }),

  crmFlush: defineJob({
    name: 'crm-flush',
    summary: 'writes due contact properties to HubSpot in batches (a job scheduler, every second)',
    queue: 'crm',
    payload: z.object({}).optional(),
    jobId: null,
    defaults: { removeOnComplete: true, removeOnFail: { age: DAY, count: 100 } },
  }),
} as const

/** Every job, in one list (graphile-worker's task list, as data). */
export const ALL_JOBS = Object.values(catalog)

/** The id of the job scheduler that produces `crm-flush` (one, shared by all workers). */
export const CRM_FLUSH_SCHEDULER = 'crm-flush'

export type SessionAction = Payload<typeof catalog.sessionAction>
export type SeenReceiptJob = Payload<typeof catalog.seenReceipt>
export type UnreadReminderJob = Payload<typeof catalog.unreadReminder>
export type SlaLevelJob = Payload<typeof catalog.slaLevel>
export type SlaWebhookJob = Payload<typeof catalog.slaWebhook>
export type CrmTaskJob = Payload<typeof catalog.crmTask>
export type CounterResetJob = Payload<typeof catalog.counterReset>

export {
  type AddOptions,
  type GlobalJobContext,
  globalRunner,
  InvalidJobPayloadError,
  JobProducer,
  type JobQueues,
  type Processor,
  type SessionJobContext,
  task,
  taskList,
} from './job-definition.js'
