import { type ConnectionOptions, Worker } from 'bullmq'
import { DateTime } from 'luxon'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { task as bind, type CrmTaskJob, catalog, globalRunner, taskList } from '../../jobs/catalog.js'
import { crmTaskProcessor } from '../../jobs/crm-task.js'
import { GLOBAL_QUEUES } from '../../src/queues.js'
import { startCrmWorker } from '../../src/worker/crm-worker.js'
import { T0 } from '../helpers/events.js'
import { crmFixture, RULES } from './fixture.js'

/** Issue 15, faults 2.8, 2.9, 2.11 and 2.12: nothing hangs, nothing sleeps in the budget, nothing drains slowly. */
let f: Awaited<ReturnType<typeof crmFixture>>

beforeAll(async () => {
  f = await crmFixture('crm-resilience', RULES('hubspot: { owner: tickbridge }'), {
    env: { HUBSPOT_TIMEOUT_MS: '300' },
    // Real time for the daily reset; the portal is in New York while the rules say nothing (UTC).
    standIn: { clock: Date.now, timeZone: 'America/New_York', limits: { perTenSeconds: 1000 } },
  })
})
afterAll(async () => {
  await f.cleanup()
})

const pausedKey = () => `${f.services.keys.global('hubspot-budget')}:paused-until`
const batchCalls = () => f.hs.callsTo('/crm/v3/objects/contacts/batch/update')

describe('request timeout (2.12)', () => {
  it('a HubSpot call that hangs gives up after HUBSPOT_TIMEOUT_MS; the change is kept and written later', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915180000001' } })
    await f.customerWrites('4915180000001')
    f.clock.advance(5000)
    f.hs.failNext({ status: 'hang', path: '/crm/v3/objects/contacts/search' })
    const started = Date.now()
    expect(await f.flush()).toMatchObject({ written: 0 })
    f.hs.failNext({ status: 'hang', path: '/crm/v3/objects/contacts/batch/update' })
    f.clock.advance(5000)
    expect(await f.flush()).toMatchObject({ written: 0 })
    expect(Date.now() - started).toBeLessThan(3000)
    f.clock.advance(5000)
    expect(await f.flush()).toMatchObject({ written: 1 })
    expect(f.hs.contact(c.id)?.properties.wa_unanswered_count).toBe('1')
  }, 10_000)
})

describe('423 Locked on a batch (2.9)', () => {
  it('is retried after at least 2 s, not dropped', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915180000006' } })
    await f.customerWrites('4915180000006')
    f.clock.advance(5000)
    f.hs.failNext({ status: 423, path: '/crm/v3/objects/contacts/batch/update' })
    expect(await f.flush()).toMatchObject({ written: 0 })
    f.clock.advance(1000)
    expect(await f.flush()).toMatchObject({ written: 0 }) // not before 2 s
    f.clock.advance(1000)
    expect(await f.flush()).toMatchObject({ written: 1 })
    expect(f.hs.contact(c.id)?.properties.wa_unanswered_count).toBe('1')
  })
})

describe('daily limit (2.8)', () => {
  it('the pause ends at HubSpot’s reset (the portal’s midnight), and the log says when sync resumes', async () => {
    f.hs.addContact({ properties: { phone: '+4915180000002' } })
    await f.customerWrites('4915180000002')
    f.clock.advance(5000)
    f.hs.failNext({ status: 429, policy: 'DAILY', path: '/crm/v3/objects/contacts' })
    await f.flush()
    const paused = await f.services.hubspot!.budget.pausedUntil()
    const nyMidnight = DateTime.now().setZone('America/New_York').plus({ days: 1 }).startOf('day').toMillis()
    expect(paused).toBe(nyMidnight)
    expect(f.logLines.some((l) => l.includes(`sync resumes at ${new Date(nyMidnight).toISOString()}`))).toBe(
      true,
    )
    await f.redis.del(pausedKey())
    f.clock.advance(nyMidnight - Date.now() + 1000)
    expect(await f.settle()).toBe(1)
  })
})

describe('task jobs and the budget (2.9)', () => {
  function taskWorker() {
    const h = f.services.hubspot!
    return new Worker(
      GLOBAL_QUEUES.crmTasks,
      globalRunner(
        taskList(
          bind(
            catalog.crmTask,
            crmTaskProcessor({
              crm: f.services.crm,
              log: f.services.log,
              budget: h.budget,
              dailyReset: () => h.crm.dailyReset('UTC'),
            }),
          ),
        ),
      ),
      {
        connection: f.redis.duplicate({ maxRetriesPerRequest: null }) as unknown as ConnectionOptions,
        prefix: f.services.keys.prefix,
      },
    )
  }
  let n = 0
  async function addTask(phone: string) {
    const task: CrmTaskJob = {
      sessionId: 's1',
      chatJid: `${phone}@s.whatsapp.net`,
      phone,
      assigneeUserId: 'anna',
      subject: 'Reply',
      priority: 'HIGH',
      dueAt: T0,
    }
    return f.services.queues.crmTasks.add(catalog.crmTask.name, task, {
      jobId: `task-test-${++n}`,
      attempts: 5,
      backoff: { type: 'fixed', delay: 100 },
    })
  }

  it('during the daily pause a task job goes back to delayed (no attempt used) and shutdown does not wait', async () => {
    f.hs.addContact({ properties: { phone: '+4915180000003' } })
    await f.services.hubspot!.budget.pauseUntil(Date.now() + 3600_000)
    const worker = taskWorker()
    try {
      const job = await addTask('4915180000003')
      await expect.poll(() => job.getState(), { timeout: 3000 }).toBe('delayed')
      const stored = await f.services.queues.crmTasks.getJob(job.id!)
      expect(stored?.attemptsMade).toBe(0)
      expect(stored!.timestamp + stored!.delay).toBeGreaterThan(Date.now() + 3500_000)
    } finally {
      const closing = Date.now()
      await worker.close()
      expect(Date.now() - closing).toBeLessThan(2000)
      await f.redis.del(pausedKey())
    }
  })

  it('423 Locked and 477 are retried, not failed', async () => {
    const before = f.hs.tasks.length
    f.hs.addContact({ properties: { phone: '+4915180000004' } })
    f.hs.failNext({ status: 423, path: '/crm/v3/objects/tasks' })
    f.hs.failNext({ status: 477, path: '/crm/v3/objects/tasks' })
    const worker = taskWorker()
    try {
      const job = await addTask('4915180000004')
      await expect.poll(() => job.getState(), { timeout: 5000 }).toBe('completed')
      expect(f.hs.tasks.length - before).toBe(1)
    } finally {
      await worker.close()
    }
  })

  it('a DAILY 429 on a task pauses the shared budget until the reset and delays the task until then', async () => {
    f.hs.addContact({ properties: { phone: '+4915180000005' } })
    f.hs.failNext({ status: 429, policy: 'DAILY', path: '/crm/v3/objects/tasks' })
    const worker = taskWorker()
    try {
      const job = await addTask('4915180000005')
      await expect.poll(() => job.getState(), { timeout: 3000 }).toBe('delayed')
      const reset = DateTime.now().setZone('America/New_York').plus({ days: 1 }).startOf('day').toMillis()
      expect(await f.services.hubspot!.budget.pausedUntil()).toBe(reset)
      const stored = await f.services.queues.crmTasks.getJob(job.id!)
      expect(stored!.timestamp + stored!.delay).toBeGreaterThanOrEqual(reset - 1000)
    } finally {
      await worker.close()
      await f.redis.del(pausedKey())
    }
  })
})

describe('worker start and shutdown during the daily pause (2.9)', () => {
  it('neither waits for the budget', async () => {
    await f.services.hubspot!.budget.pauseUntil(Date.now() + 3600_000)
    try {
      const started = Date.now()
      const crm = await startCrmWorker(f.services)
      expect(Date.now() - started).toBeLessThan(2000)
      const closing = Date.now()
      await crm!.close()
      expect(Date.now() - closing).toBeLessThan(2000)
    } finally {
      await f.redis.del(pausedKey())
    }
  }, 10_000)
})

describe('batching and 429 storms (2.11)', () => {
  it('five contacts changed 10 ms apart go out in one batch/update', async () => {
    const phones = Array.from({ length: 5 }, (_, i) => `491518100000${i}`)
    for (const p of phones) f.hs.addContact({ properties: { phone: `+${p}` } })
    await f.settle()
    const before = batchCalls().length
    for (const p of phones) {
      await f.customerWrites(p)
      f.clock.advance(10)
    }
    f.clock.advance(5000 - 50)
    await f.settle()
    const calls = batchCalls().slice(before)
    expect(calls.map((c) => (c.body as { inputs: unknown[] }).inputs.length)).toEqual([5])
  })

  it('after a run of 429s the backlog drains at the budget’s rate, not one call per 10 s', async () => {
    const phones = Array.from({ length: 300 }, (_, i) => `4915182${String(100_000 + i)}`)
    const ids = phones.map((p) => f.hs.addContact({ properties: { phone: `+${p}` } }).id)
    await f.services.hubspot!.crm.cache.remember(phones.map((p, i) => [p, ids[i]!]))
    for (const p of phones) await f.customerWrites(p)
    f.clock.advance(5000)
    f.hs.failNext({
      status: 429,
      policy: 'TEN_SECONDLY_ROLLING',
      times: 3,
      path: '/crm/v3/objects/contacts/batch/update',
    })
    const started = f.clock.now()
    let seconds = 0
    while ((await f.services.hubspot!.dirty.pending()) > 0 && seconds < 30) {
      await f.flush()
      f.clock.advance(1000)
      seconds++
    }
    expect(ids.every((id) => f.hs.contact(id)?.properties.wa_unanswered_count === '1')).toBe(true)
    expect(f.clock.now() - started).toBeLessThanOrEqual(6000)
  })
})
