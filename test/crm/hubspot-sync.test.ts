import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ConnectionOptions, Worker } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CrmTaskJob, catalog, globalRunner, task, taskList } from '../../jobs/catalog.js'
import { crmTaskProcessor } from '../../jobs/crm-task.js'
import type { ManualClock } from '../../src/clock.js'
import { GLOBAL_QUEUES } from '../../src/queues.js'
import { appFixture } from '../helpers/app.js'
import { flushCrm } from '../helpers/crm.js'
import { T0 } from '../helpers/events.js'
import { type HubSpotStandIn, STANDIN_TOKEN, startHubSpotStandIn } from '../hubspot-standin/server.js'

let hs: HubSpotStandIn
let f: Awaited<ReturnType<typeof appFixture<ManualClock>>>
const APP_SECRET = 'hubspot-app-secret-test'

beforeAll(async () => {
  // The portal's own time zone: HubSpot's daily limit resets at its midnight.
  hs = await startHubSpotStandIn({ timeZone: 'Europe/Berlin', searchLagMs: 1000 })
  hs.addOwner({ id: '9001', email: 'anna@example.com', firstName: 'Anna', lastName: 'A' })
  hs.addOwner({ id: '9002', email: 'dora@example.com', firstName: 'Dora', lastName: 'D' })
  const rules = join(await mkdtemp(join(tmpdir(), 'tb-crm-')), 'rules.yaml')
  await writeFile(
    rules,
    `version: 1
orgs: [{ id: o, hubspot: { timeZone: Europe/Berlin, owner: tickbridge } }]
sessions: [{ id: s1, org: o, defaultOwner: anna }, { id: s2, org: o, defaultOwner: dora }]
users:
  - { id: anna, org: o, role: agent, hubspotOwnerId: "9001" }
  - { id: dora, org: o, role: supervisor, supervises: [anna], hubspotOwnerId: "9002" }
counters: { crmSync: { debounce: 5s } }
`,
  )
  f = await appFixture('crm-sync', {
    rulesPath: rules,
    env: { HUBSPOT_ACCESS_TOKEN: STANDIN_TOKEN, HUBSPOT_BASE_URL: hs.url, HUBSPOT_APP_SECRET: APP_SECRET },
  })
  await f.services.hubspot!.crm.ensureProperties()
})
afterAll(async () => {
  await f.cleanup()
  await hs.close()
})

const flush = () => flushCrm(f.services, f.clock)

const jidOf = (phone: string) => `${phone}@s.whatsapp.net`
let seq = 0
async function customerWrites(phone: string, at = f.clock.now(), sessionId = 's1') {
  await f.services.ingestor.ingest({
    type: 'message',
    sessionId,
    key: { remoteJid: jidOf(phone), fromMe: false, id: `H${++seq}` },
    timestamp: at,
    text: 'Hi',
    origin: 'customer',
  })
}

describe('HubSpot sync', () => {
  it('creates its property group and properties once', async () => {
    expect(hs.propertyGroups.some((g) => g.name === 'tickbridge')).toBe(true)
    for (const p of [
      'wa_unanswered_count',
      'wa_awaiting_reply_since',
      'wa_last_inbound_at',
      'wa_last_outbound_at',
      'wa_sla_state',
    ]) {
      expect(hs.properties.some((x) => x.name === p)).toBe(true)
    }
    expect(await f.services.hubspot!.crm.ensureProperties()).toEqual({ created: [] })
  })

  it('writes a chat’s counters to its contact after the debounce window, found by phone', async () => {
    const contact = hs.addContact({ properties: { firstname: 'Maria', phone: '+49 151 1234 5678' } })
    await customerWrites('4915112345678')
    await customerWrites('4915112345678')
    expect(await flush()).toEqual({ written: 0, batches: 0 }) // still inside the window
    f.clock.advance(5000)
    expect(await flush()).toMatchObject({ written: 1 })
    expect(hs.contact(contact.id)!.properties).toMatchObject({
      wa_unanswered_count: '2',
      wa_awaiting_reply_since: new Date(T0).toISOString(),
      wa_sla_state: 'ok',
      hubspot_owner_id: '9001',
    })
  })

  it('a customer writing to two of our numbers: the contact shows both chats combined', async () => {
    const contact = hs.addContact({ properties: { phone: '+49 151 5550 1234' } })
    const phone = '4915155501234'
    await customerWrites(phone, f.clock.now(), 's1')
    await customerWrites(phone, f.clock.now(), 's1')
    f.clock.advance(1000)
    await customerWrites(phone, f.clock.now(), 's2')
    f.clock.advance(5000)
    await flush()
    // Flushed again after only s1 changes: s2's waiting message still counts.
    await customerWrites(phone, f.clock.now(), 's1')
    f.clock.advance(5000)
    await flush()
    expect(hs.contact(contact.id)!.properties).toMatchObject({ wa_unanswered_count: '4' })
    // Answered on s2 only: s1's three remain; the owner is that of the chat written to last (s1: anna).
    await f.services.ingestor.ingest({
      type: 'message',
      sessionId: 's2',
      key: { remoteJid: jidOf(phone), fromMe: true, id: `H${++seq}` },
      timestamp: f.clock.now(),
      text: 'On it',
      origin: 'phone',
    })
    f.clock.advance(5000)
    await flush()
    expect(hs.contact(contact.id)!.properties).toMatchObject({
      wa_unanswered_count: '3',
      hubspot_owner_id: '9001',
    })
  })

  it('coalesces 10,000 changes over 1,000 contacts into at most 10 batch calls per window', async () => {
    const phones = Array.from({ length: 1000 }, (_, i) => `4930${String(1_000_000 + i)}`)
    const ids = phones.map((p) => hs.addContact({ properties: { phone: `+${p}` } }).id)
    // These contacts are already known (the phone lookup is cached; searches are budgeted separately).
    await f.services.hubspot!.crm.cache.remember(phones.map((p, i) => [p, ids[i]!]))
    const before = hs.callsTo('/crm/v3/objects/contacts/batch/update').length
    for (let round = 0; round < 10; round++) {
      await Promise.all(phones.map((p) => customerWrites(p, f.clock.now() + round)))
    }
    f.clock.advance(5000)
    const r = await flush()
    expect(r.written).toBe(1000)
    const calls = hs.callsTo('/crm/v3/objects/contacts/batch/update').length - before
    expect(calls).toBeLessThanOrEqual(10)
    expect(hs.contact(ids[0]!)!.properties.wa_unanswered_count).toBe('10')
    expect(hs.contact(ids[999]!)!.properties.wa_unanswered_count).toBe('10')
  })

  it('a DAILY 429 pauses sync until the portal’s midnight (HubSpot’s resetsAt) and loses nothing', async () => {
    const c = hs.addContact({ properties: { phone: '+4916099887766' } })
    await customerWrites('4916099887766')
    f.clock.advance(5000)
    hs.failNext({ status: 429, policy: 'DAILY', times: 1 })
    expect(await flush()).toMatchObject({ written: 0 })
    const paused = await f.services.hubspot!.budget.pausedUntil()
    expect(paused).not.toBeNull()
    // Midnight in Europe/Berlin.
    expect(new Date(paused!).toLocaleTimeString('en-GB', { timeZone: 'Europe/Berlin' })).toBe('00:00:00')
    expect(await f.services.hubspot!.dirty.pending()).toBeGreaterThan(0)
    expect(await flush()).toEqual({ written: 0, batches: 0 }) // paused: nothing is tried
    // Midnight comes: the kept change goes out.
    await f.redis.del(`${f.services.keys.global('hubspot-budget')}:paused-until`)
    f.clock.set(paused!)
    expect(await flush()).toMatchObject({ written: 1 })
    expect(hs.contact(c.id)!.properties.wa_unanswered_count).toBe('1')
  })

  it('a reset reaches HubSpot as zeros', async () => {
    const c = hs.addContact({ properties: { phone: '+4917011122233' } })
    await customerWrites('4917011122233')
    await customerWrites('4917011122233')
    f.clock.advance(5000)
    await flush()
    expect(hs.contact(c.id)!.properties.wa_unanswered_count).toBe('2')
    await f.services.ingestor.ingest({ type: 'counters.reset', sessionId: 's1', at: f.clock.now() })
    f.clock.advance(5000)
    await flush()
    expect(hs.contact(c.id)!.properties).toMatchObject({
      wa_unanswered_count: '0',
      wa_awaiting_reply_since: '',
    })
  })

  it('a contact deleted in HubSpot (207 OBJECT_NOT_FOUND) is looked up again, not lost', async () => {
    const old = hs.addContact({ properties: { phone: '+4917255566677' } })
    await customerWrites('4917255566677')
    f.clock.advance(5000)
    await flush()
    hs.deleteContact(old.id)
    const merged = hs.addContact({ properties: { phone: '+4917255566677' } })
    await customerWrites('4917255566677')
    f.clock.advance(5000)
    await flush() // 207: not found -> forgotten and queued again
    f.clock.advance(1000)
    await flush()
    expect(hs.contact(merged.id)!.properties.wa_unanswered_count).toBe('2')
  })

  it('creates SLA tasks on the contact for the owner (association 204)', async () => {
    const c = hs.addContact({ properties: { phone: '+4917399988877' } })
    const r = await f.services.crm.createTask({
      sessionId: 's1',
      chatJid: jidOf('4917399988877'),
      phone: '4917399988877',
      assigneeUserId: 'anna',
      subject: 'Reply to Maria',
      priority: 'HIGH',
      dueAt: T0,
    })
    expect(r.ok).toBe(true)
    const task = hs.tasks.at(-1)!
    expect(task.properties).toMatchObject({
      hs_task_subject: 'Reply to Maria',
      hs_task_priority: 'HIGH',
      hubspot_owner_id: '9001',
    })
    expect(task.associations).toEqual([
      { toObjectId: c.id, associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 204 },
    ])
  })

  it('an SLA task HubSpot answers 500 and 429 for is retried by its queue and created once', async () => {
    const c = hs.addContact({ properties: { phone: '+4917399988866' } })
    hs.failNext({ status: 500, path: '/crm/v3/objects/tasks' })
    hs.failNext({ status: 429, path: '/crm/v3/objects/tasks' })
    const before = hs.tasks.length
    const worker = new Worker(
      GLOBAL_QUEUES.crmTasks,
      globalRunner(
        taskList(task(catalog.crmTask, crmTaskProcessor({ crm: f.services.crm, log: f.services.log }))),
      ),
      {
        connection: f.services.redis.duplicate({
          maxRetriesPerRequest: null,
        }) as unknown as ConnectionOptions,
        prefix: f.services.keys.prefix,
      },
    )
    const crmTask: CrmTaskJob = {
      sessionId: 's1',
      chatJid: jidOf('4917399988866'),
      phone: '4917399988866',
      assigneeUserId: 'anna',
      subject: 'SLA breached',
      priority: 'HIGH',
      dueAt: T0,
    }
    // Straight into the queue, with quick retries of its own, to watch the processor retry.
    const job = await f.services.queues.crmTasks.add(catalog.crmTask.name, crmTask, {
      jobId: 'sla-s1-test-1-1-0',
      attempts: 5,
      backoff: { type: 'fixed', delay: 50 },
    })
    await expect.poll(() => job.getState(), { timeout: 15_000 }).toBe('completed')
    await worker.close()
    expect((await f.services.queues.crmTasks.getJob(job.id!))?.attemptsMade).toBe(3)
    expect(hs.tasks.length - before).toBe(1)
    expect(hs.tasks.at(-1)!.associations[0]?.toObjectId).toBe(c.id)
  })
})
