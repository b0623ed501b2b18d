import { type ConnectionOptions, type Job, Queue, Worker } from 'bullmq'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ALL_JOBS,
  catalog,
  type GlobalJobContext,
  globalRunner,
  InvalidJobPayloadError,
  JobProducer,
  type JobQueues,
  type SessionJobContext,
  task,
  taskList,
} from '../../jobs/catalog.js'
import type { AddOptions, AnyJob, PayloadIn, Task } from '../../jobs/job-definition.js'
import {
  createGlobalQueues,
  GLOBAL_QUEUES,
  QUEUE_STREAMS,
  slaQueueName,
  slaShardOf,
} from '../../src/queues.js'
import type { WhatsAppSession } from '../../src/whatsapp/port.js'
import { runSessionJob } from '../../src/worker/session-jobs.js'
import { SessionQueues, sessionQueueName } from '../../src/worker/session-queues.js'
import { group, pn, T0 } from '../helpers/events.js'
import { testRedis } from '../helpers/redis.js'

/**
 * Every job of the catalog, through real BullMQ on real Redis: a producer enqueues it with a typed
 * payload, and the processor bound with `task()` receives the parsed payload under the job id and
 * options the catalog gives it. A bad payload is refused with the field's name before anything reaches
 * Redis.
 */
const r = testRedis('catalog')
const sessionQueues = new SessionQueues(r.redis, r.prefix)
const globalQueues = createGlobalQueues(r.redis, r.prefix)
const jobs = JobProducer.over(sessionQueues, globalQueues)
const workers: Worker[] = []

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()))
  await sessionQueues.close()
  await globalQueues.close()
  await r.cleanup()
})

const SID = 'line-1'

/** Session jobs run only while the session is WORKING (runSessionJob); the processors here are spies. */
const session: WhatsAppSession = {
  sessionId: SID,
  status: () => 'WORKING',
  readMessages: () => Promise.reject(new Error('not used: the processor is a spy')),
  markChatRead: () => Promise.reject(new Error('not used: the processor is a spy')),
  markChatUnread: () => Promise.reject(new Error('not used: the processor is a spy')),
  setArchived: () => Promise.reject(new Error('not used: the processor is a spy')),
  sendPresence: () => Promise.reject(new Error('not used: the processor is a spy')),
  close: async () => {},
}

interface Sample<D extends AnyJob> {
  def: D
  payload: PayloadIn<D>
  opts: AddOptions<D>
  /** A payload the schema refuses, and the field the refusal must name. */
  bad: { payload: unknown; field: string }
}
const sample = <D extends AnyJob>(s: Sample<D>) => s as unknown as Sample<AnyJob>

const chat = pn(4_000_001)
const lastMessage = { key: { remoteJid: chat, fromMe: false, id: '3EB0AA11' }, timestamp: T0 }
const slaKey = { sessionId: SID, chatJid: chat, waitSeq: 2, level: 1 }

const SAMPLES: Sample<AnyJob>[] = [
  sample({
    def: catalog.sessionAction,
    payload: { action: 'markUnread', chat: { jid: chat, lastMessage } },
    opts: { sessionId: SID, key: { slaAction: { ...slaKey, action: 0 } } },
    bad: {
      payload: {
        action: 'markUnread',
        chat: { jid: chat, lastMessage: { key: { remoteJid: chat, fromMe: false }, timestamp: T0 } },
      },
      field: 'chat.lastMessage.key.id',
    },
  }),
  sample({
    def: catalog.seenReceipt,
    // A group jid with a device part: the id must not carry its ':' into BullMQ.
    payload: { chatJid: group(7), gen: 3 },
    opts: { sessionId: SID, key: { chatJid: group(7), gen: 3 }, delay: 20 },
    bad: { payload: { chatJid: group(7), gen: 0 }, field: 'gen' },
  }),
  sample({
    def: catalog.unreadReminder,
    payload: { reminderId: 'r0123456789abcdef', chatJid: chat },
    opts: { sessionId: SID, key: { reminderId: 'r0123456789abcdef' } },
    bad: { payload: { reminderId: 'tomorrow', chatJid: chat }, field: 'reminderId' },
  }),
  sample({
    def: catalog.slaLevel,
    payload: { ...slaKey, policyId: 'fast', dueAt: T0, waitingSince: T0 - 60_000 },
    opts: { sessionId: SID, key: slaKey },
    bad: { payload: { ...slaKey, waitSeq: undefined, policyId: 'fast', dueAt: T0 }, field: 'waitSeq' },
  }),
  sample({
    def: catalog.slaWebhook,
    payload: { url: 'https://hooks.example.test/sla', event: { id: 'e-1', type: 'sla.level_fired' } },
    opts: { key: { ...slaKey, action: 3 } },
    bad: { payload: { url: 'hooks.example.test', event: { id: 'e-1', type: 'x' } }, field: 'url' },
  }),
  sample({
    def: catalog.crmTask,
    payload: {
      sessionId: SID,
      chatJid: chat,
      phone: '4940001',
      assigneeUserId: 'anna',
      subject: 'Reply to the customer',
      priority: 'HIGH',
      dueAt: T0,
    },
    opts: { key: { ...slaKey, action: 4 } },
    bad: {
      payload: {
        sessionId: SID,
        chatJid: chat,
        phone: null,
        assigneeUserId: null,
        subject: 'x',
        priority: 'URGENT',
        dueAt: T0,
      },
      field: 'priority',
    },
  }),
  sample({
    def: catalog.counterReset,
    payload: { ruleId: 'nightly' },
    opts: {},
    bad: { payload: { ruleId: '' }, field: 'ruleId' },
  }),
  sample({
    def: catalog.crmFlush,
    payload: {},
    opts: {},
    bad: { payload: 'flush!', field: '(root)' },
  }),
]

interface Received {
  payload: unknown
  job: Job
  ctx: SessionJobContext | GlobalJobContext
}

/** A worker on the job's queue whose processor (bound to the catalog entry) reports what it got. */
function consume(def: AnyJob, sessionId: string | undefined) {
  const received: Received[] = []
  let notify: () => void = () => {}
  const arrived = new Promise<void>((resolve) => {
    notify = resolve
  })
  const spy = async (payload: unknown, job: Job, ctx: SessionJobContext | GlobalJobContext) => {
    received.push({ payload, job, ctx })
    notify()
    return { ok: true }
  }
  const bound = task(def, spy)
  const queueName = jobs.queueOf(def, sessionId).name
  const connection = r.redis.duplicate({ maxRetriesPerRequest: null }) as unknown as ConnectionOptions
  const processor =
    def.queue === 'session'
      ? (job: Job, token?: string) =>
          runSessionJob(
            job,
            token,
            sessionId!,
            session,
            taskList(bound as unknown as Task<SessionJobContext>),
          )
      : globalRunner(taskList(bound as never))
  const worker = new Worker(queueName, processor, { connection, prefix: r.prefix, concurrency: 1 })
  workers.push(worker)
  return { received, arrived, worker }
}

/** A queue's name without opening a handle on it (a new handle writes the queue's settings to Redis). */
function queueNameOf(def: AnyJob, sessionId: string | undefined): string {
  if (def.queue === 'session') return sessionQueueName(sessionId!)
  if (def.queue === 'sla-shard') return slaQueueName(slaShardOf(sessionId!))
  return GLOBAL_QUEUES[def.queue]
}

/** Every key of one queue in Redis. */
async function keysOf(queueName: string): Promise<string[]> {
  return r.redis.keys(`${r.prefix}:${queueName}:*`)
}

describe('job catalog', () => {
  it('has a sample here for every job it defines, and defines each name once', () => {
    expect(SAMPLES.map((s) => s.def.name).sort()).toEqual(ALL_JOBS.map((d) => d.name).sort())
    expect(new Set(ALL_JOBS.map((d) => d.name)).size).toBe(ALL_JOBS.length)
  })

  it.each(SAMPLES.map((s) => [s.def.name, s] as const))(
    '%s: enqueued through the catalog, its processor receives the parsed payload',
    async (_name, s) => {
      const sessionId = 'sessionId' in s.opts ? s.opts.sessionId : undefined
      const { received, arrived, worker } = consume(s.def, sessionId)
      const added = await jobs.add(s.def, s.payload, s.opts)
      await arrived
      await worker.close()

      expect(received).toHaveLength(1)
      const got = received[0]!
      expect(got.payload).toEqual(s.def.payload.parse(s.payload))
      expect(got.job.name).toBe(s.def.name)
      expect(got.job.id).toBe(added.id)
      if (s.def.jobId) {
        expect(got.job.id).toBe(s.def.jobId(s.opts.key))
        expect(got.job.id).not.toContain(':')
      }
      expect(got.job.opts).toMatchObject({
        ...s.def.defaults,
        ...('delay' in s.opts ? { delay: s.opts.delay } : {}),
      })
      if (s.def.queue === 'session') expect(got.ctx).toMatchObject({ sessionId: SID, session })
      else expect(got.ctx).toEqual({ token: expect.any(String) })
    },
  )

  it('a processor gets the parsed payload, not what was stored (unknown fields dropped)', async () => {
    const { received, arrived, worker } = consume(catalog.seenReceipt, SID)
    const payload = { chatJid: chat, gen: 9, debug: 'kept out of the processor' }
    await jobs.add(catalog.seenReceipt, payload, { sessionId: SID, key: { chatJid: chat, gen: 9 } })
    await arrived
    await worker.close()
    expect(received[0]!.payload).toEqual({ chatJid: chat, gen: 9 })
  })

  describe('an invalid payload is refused with the field’s name before it reaches Redis', () => {
    /** A producer whose queues record being asked for: a refused payload never gets that far. */
    const asked: string[] = []
    const watched: JobQueues = {
      session: (sid) => {
        asked.push(`session ${sid}`)
        return sessionQueues.get(sid)
      },
      slaShard: (sid) => {
        asked.push(`sla ${sid}`)
        return globalQueues.slaFor(sid)
      },
      global: (name) => {
        asked.push(name)
        return globalQueues[name]
      },
    }
    const guarded = new JobProducer(watched)

    it.each(SAMPLES.map((s) => [s.def.name, s] as const))('%s', async (_name, s) => {
      asked.length = 0
      const sessionId = 'sessionId' in s.opts ? s.opts.sessionId : undefined
      // A queue of its own (another session) for the per-session jobs, so "no key" means "nothing sent".
      const opts = (
        sessionId ? { ...s.opts, sessionId: `refused-${s.def.name}` } : s.opts
      ) as AddOptions<AnyJob>
      const queueName = queueNameOf(s.def, opts.sessionId)
      const before = await keysOf(queueName)

      const attempt = guarded.add(s.def, s.bad.payload as never, opts)
      await expect(attempt).rejects.toBeInstanceOf(InvalidJobPayloadError)
      await expect(attempt).rejects.toThrow(`invalid ${s.def.name} payload: ${s.bad.field}:`)
      const err = (await attempt.catch((e: unknown) => e)) as InvalidJobPayloadError
      expect(err.problems.some((p) => p.startsWith(`${s.bad.field}:`))).toBe(true)

      expect(asked).toEqual([])
      expect(await keysOf(queueName)).toEqual(before)
    })

    it('a session id that is no session id (it ends up in job ids) is refused in every payload that carries one', async () => {
      asked.length = 0
      const good = { ...slaKey, policyId: 'fast', dueAt: T0 }
      for (const sessionId of ['a:b', 'x}{*', 'line\nfeed', '']) {
        await expect(
          guarded.add(catalog.slaLevel, { ...good, sessionId }, { sessionId: SID, key: slaKey }),
        ).rejects.toThrow('invalid sla-level payload: sessionId:')
        await expect(
          guarded.add(
            catalog.crmTask,
            {
              sessionId,
              chatJid: chat,
              phone: null,
              assigneeUserId: null,
              subject: 's',
              priority: 'LOW',
              dueAt: T0,
            },
            { key: { ...slaKey, action: 1 } },
          ),
        ).rejects.toThrow('invalid crm-task payload: sessionId:')
      }
      expect(asked).toEqual([])
    })

    it('a bulk with one bad payload adds none of them', async () => {
      asked.length = 0
      const good = { ...slaKey, policyId: 'fast', dueAt: T0 }
      const attempt = guarded.addBulk(catalog.slaLevel, { sessionId: 'bulk-line' }, [
        { payload: { ...good, sessionId: 'bulk-line' }, key: { ...slaKey, sessionId: 'bulk-line' } },
        { payload: { ...good, sessionId: 'bulk-line', level: -1 }, key: { ...slaKey, level: 2 } },
      ])
      await expect(attempt).rejects.toThrow('invalid sla-level payload: level:')
      expect(asked).toEqual([])
      expect(await globalQueues.slaFor('bulk-line').getJobCounts('delayed', 'wait')).toEqual({
        delayed: 0,
        wait: 0,
      })
    })

    it('a job scheduler is not created for a bad payload', async () => {
      asked.length = 0
      await expect(
        guarded.schedule(catalog.counterReset, 'broken-rule', { every: 60_000 }, { ruleId: '' }, {}),
      ).rejects.toThrow('invalid counter-reset payload: ruleId:')
      expect(asked).toEqual([])
      expect(await globalQueues.counters.getJobScheduler('broken-rule')).toBeUndefined()
    })
  })

  it('a bad payload already in Redis (not from the catalog) fails at once, naming the field, never retried', async () => {
    const queue = new Queue(jobs.queueOf(catalog.seenReceipt, 'raw-line').name, {
      connection: r.redis as unknown as ConnectionOptions,
      prefix: r.prefix,
      streams: QUEUE_STREAMS,
    })
    const { received, worker } = consume(catalog.seenReceipt, 'raw-line')
    const failed = new Promise<[Job | undefined, Error]>((resolve) =>
      worker.on('failed', (job, err) => resolve([job, err])),
    )
    await queue.add(catalog.seenReceipt.name, { chatJid: chat, gen: 'two' }, { attempts: 5 })
    const [job, err] = await failed
    await worker.close()
    await queue.close()
    expect(err.message).toMatch(/^invalid seen-receipt payload: gen: /)
    expect(job?.attemptsMade).toBe(1)
    expect(received).toEqual([])
  })
})
