import { type ConnectionOptions, type Job, Worker } from 'bullmq'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type CrmTaskJob, catalog, globalRunner, task, taskList } from '../../jobs/catalog.js'
import { crmTaskProcessor } from '../../jobs/crm-task.js'
import { GLOBAL_QUEUES } from '../../src/queues.js'
import { crmFixture, RULES } from './fixture.js'

/**
 * Issue 25, fault 4: SLA tasks are neither lost nor doubled. 401/403 are retried (an admin fixes the
 * token or scope), a contact merged since we cached its id is looked up again, and a task waits
 * (bounded by its job's attempts, the reason on the job) for a contact that does not exist yet.
 */
let f: Awaited<ReturnType<typeof crmFixture>>
let worker: Worker | null = null
let seq = 0

beforeAll(async () => {
  f = await crmFixture('crm-sla-tasks', RULES())
})
afterEach(async () => {
  await worker?.close()
  worker = null
})
afterAll(async () => {
  await f.cleanup()
})

async function runTask(phone: string): Promise<Job> {
  worker = new Worker(
    GLOBAL_QUEUES.crmTasks,
    globalRunner(
      taskList(task(catalog.crmTask, crmTaskProcessor({ crm: f.services.crm, log: f.services.log }))),
    ),
    {
      connection: f.services.redis.duplicate({ maxRetriesPerRequest: null }) as unknown as ConnectionOptions,
      prefix: f.services.keys.prefix,
    },
  )
  const input: CrmTaskJob = {
    sessionId: 's1',
    chatJid: `${phone}@s.whatsapp.net`,
    phone,
    assigneeUserId: 'anna',
    subject: 'Reply on WhatsApp',
    priority: 'HIGH',
    dueAt: f.clock.now(),
  }
  return f.services.queues.crmTasks.add(catalog.crmTask.name, input, {
    jobId: `sla-tasks-${++seq}`,
    attempts: 6,
    backoff: { type: 'fixed', delay: 100 },
  })
}

const tasksOn = (contactId: string) =>
  f.hs.tasks.filter((t) => t.associations.some((a) => a.toObjectId === contactId)).length

describe('SLA tasks (fault 4)', () => {
  it('a 401 (a rotated token) is retried, and the task is created once', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915175000001' } })
    f.hs.failNext({ status: 401, path: '/crm/v3/objects/tasks' })
    const job = await runTask('4915175000001')
    await expect.poll(() => job.getState(), { timeout: 15_000 }).toBe('completed')
    expect(tasksOn(c.id)).toBe(1)
  })

  it('a contact merged since its id was cached gets the task on the merged record', async () => {
    const a = f.hs.addContact({ properties: { phone: '+4915175000002' } })
    const b = f.hs.addContact({ properties: { email: 'same@example.com' } })
    expect(await f.services.hubspot!.crm.contactByPhone('4915175000002')).toBe(a.id) // cached for a day
    const merged = f.hs.mergeContacts(a.id, b.id)
    f.clock.advance(2000) // the merged record is searchable
    const job = await runTask('4915175000002')
    await expect.poll(() => job.getState(), { timeout: 15_000 }).toBe('completed')
    expect(tasksOn(merged.id)).toBe(1)
  })

  it('waits for a contact that does not exist yet, then creates the task', async () => {
    const job = await runTask('4915175000003')
    await expect
      .poll(async () => (await f.services.queues.crmTasks.getJob(job.id!))?.attemptsMade ?? 0, {
        timeout: 15_000,
      })
      .toBeGreaterThan(0)
    expect((await f.services.queues.crmTasks.getJob(job.id!))?.failedReason).toContain(
      'waiting for the contact',
    )
    // The contact is created in HubSpot (its contact.creation webhook drops the cached miss).
    const c = f.hs.addContact({ properties: { phone: '+4915175000003' } })
    await f.services.hubspot!.crm.cache.forgetMisses()
    await expect.poll(() => job.getState(), { timeout: 15_000 }).toBe('completed')
    expect(tasksOn(c.id)).toBe(1)
  })

  it('a timeout after HubSpot created the task creates no second one (found by our marker)', async () => {
    const c = f.hs.addContact({ properties: { phone: '+4915175000004' } })
    f.hs.failNext({
      status: 'timeout',
      applied: true,
      path: '/crm/v3/objects/tasks',
      method: 'POST',
      delayMs: 50,
    })
    const job = await runTask('4915175000004')
    await expect.poll(() => job.getState(), { timeout: 15_000 }).toBe('completed')
    expect((await f.services.queues.crmTasks.getJob(job.id!))?.attemptsMade).toBeGreaterThan(0)
    expect(tasksOn(c.id)).toBe(1)
    expect((await f.services.queues.crmTasks.getJob(job.id!))?.returnvalue).toMatchObject({
      ok: true,
      detail: expect.stringContaining('created by an earlier try'),
    })
  })
})
