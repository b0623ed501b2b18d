import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Job } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { catalog, InvalidJobPayloadError, task } from '../../jobs/catalog.js'
import { slaLevelProcessor } from '../../jobs/sla-level.js'
import { signWebhook } from '../../jobs/sla-webhook.js'
import { TickbridgeClient } from '../../src/client/index.js'
import { systemClock } from '../../src/clock.js'
import { userCounters } from '../../src/inbox/counters.js'
import { startWorker, type Worker } from '../../src/worker/worker.js'
import { appFixture, bearer, KEYS } from '../helpers/app.js'
import { pn } from '../helpers/events.js'

const hooks: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = []
let hookServer: Server
let hookUrl = ''
let rulesPath = ''
let f: Awaited<ReturnType<typeof appFixture<typeof systemClock>>>
let worker: Worker

function rules(levels: [string, string, string]) {
  return `version: 1
orgs: [{ id: o }]
sessions: [{ id: sales, org: o, defaultOwner: agent-a }]
users:
  - { id: agent-a, org: o, role: agent, team: sales }
  - { id: sup-s, org: o, role: supervisor, supervises: [agent-a] }
sla:
  policies:
    - id: fast
      match: { sessions: [sales] }
      calendar: "24/7"
      firstResponse: ${levels[1]}
      levels:
        - after: ${levels[0]}
          actions: [{ markUnread: true }, { setState: warning }]
        - after: ${levels[1]}
          actions: [{ crmTask: { assignTo: owner, subject: "Reply to {{contact}}" } }, { reassign: { to: supervisor } }]
        - after: ${levels[2]}
          actions: [{ webhook: { url: "${hookUrl}", secretEnv: TB_TEST_HOOK_SECRET } }, { setState: breached }]
apiKeys:
  - { id: k, org: o, sha256: 13cfc924615bf241358b1da3c6a1ed2c0ea1e32fb2e69d4e66b8072b14ca40e8, capabilities: [read, send, admin] }
`
}

beforeAll(async () => {
  process.env.TB_TEST_HOOK_SECRET = 'whsec_test_only'
  hookServer = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => {
      body += c
    })
    req.on('end', () => {
      hooks.push({ headers: req.headers, body })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r))
  hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook`
  rulesPath = join(await mkdtemp(join(tmpdir(), 'tb-sla-')), 'rules.yaml')
  await writeFile(rulesPath, rules(['600ms', '1200ms', '1800ms']))
  f = await appFixture('sla-e2e', { rulesPath, clock: systemClock })
  worker = await startWorker(f.services, { timings: { tickMs: 100, leaseMs: 1000, workerTtlMs: 500 } })
  await vi.waitFor(async () => expect((await f.services.statuses.get('sales')).status).toBe('WORKING'))
})
afterAll(async () => {
  await worker.close()
  await f.cleanup()
  hookServer.close()
})

const events = async (chat: string) =>
  (await f.app.inject({ url: '/v1/sla/events?sessionId=sales&limit=500', headers: bearer(KEYS.acmeAdmin) }))
    .json()
    .items.filter((e: { chatJid: string }) => e.chatJid === chat)

async function customerWrites(chat: string, text = 'Hello, anyone?') {
  const r = await f.services.ingestor.ingest({
    type: 'message',
    sessionId: 'sales',
    key: { remoteJid: chat, fromMe: false, id: `C${Math.random().toString(16).slice(2, 14).toUpperCase()}` },
    timestamp: Date.now(),
    text,
    origin: 'customer',
  })
  if (!r.ok) throw new Error(r.problems.join('; '))
}
const reply = (chat: string) =>
  f.services.ingestor.ingest({
    type: 'message',
    sessionId: 'sales',
    key: { remoteJid: chat, fromMe: true, id: `R${Math.random().toString(16).slice(2, 14).toUpperCase()}` },
    timestamp: Date.now(),
    text: 'Sorry for the wait!',
    origin: 'phone',
  })

/** The real level processor over the fixture's services, for runs outside the worker. */
const levelProcessor = () =>
  slaLevelProcessor({
    sla: f.services.sla,
    inbox: f.services.inbox,
    ingestor: f.services.ingestor,
    crm: f.services.crm,
    jobs: f.services.jobs,
    rules: () => f.services.rules.current(),
    clock: systemClock,
    metrics: f.services.metrics,
    log: f.services.log,
  })

/**
 * Makes the hand-off of the chat's SLA webhook job throw what `fail` returns for its n-th attempt (from
 * 1; null lets it through). `count` says how many hand-offs were tried.
 */
function interceptWebhookHandOff(chat: string, fail: (n: number) => Error | null) {
  let count = 0
  const original = f.services.jobs.add.bind(f.services.jobs)
  const add = vi.spyOn(f.services.jobs, 'add').mockImplementation(async (def, data, opts) => {
    if (def === catalog.slaWebhook && (data as { event: { chatJid: string } }).event.chatJid === chat) {
      const err = fail(++count)
      if (err) throw err
    }
    return original(def, data, opts as never)
  })
  return {
    get count() {
      return count
    },
    restore: () => add.mockRestore(),
  }
}

/** A customer writes: the chat's clock opens. Its SLA shard and the job id of each of its levels. */
async function openClock(chat: string) {
  await customerWrites(chat)
  const clock = (await f.services.sla.get('sales', chat))!
  const id = (level: number) =>
    catalog.slaLevel.jobId({ sessionId: 'sales', chatJid: chat, waitSeq: clock.waitSeq, level })
  return { queue: f.services.queues.slaFor('sales'), clock, id }
}

describe('SLA escalation ladder', () => {
  it('fires each level at its due time, in order, and each action does its job', async () => {
    const chat = pn(9501)
    const before = await userCounters(f.services.inbox, f.services.rules.current(), 'sup-s')
    await customerWrites(chat)
    await vi.waitFor(async () => expect(await events(chat)).toHaveLength(3), { timeout: 8000, interval: 100 })
    const log = await events(chat)
    expect(log.map((e: { level: number }) => e.level)).toEqual([1, 2, 3])
    for (const e of log) expect(Date.parse(e.firedAt)).toBeGreaterThanOrEqual(Date.parse(e.dueAt))
    const waiting = Date.parse(log[0].waitingSince)
    expect(log.map((e: { dueAt: string }) => Date.parse(e.dueAt) - waiting)).toEqual([600, 1200, 1800])
    expect(log[0].actions).toEqual([
      { action: 'markUnread', outcome: 'queued on the session', ok: true },
      { action: 'setState', outcome: 'warning', ok: true },
    ])
    expect(log[1].actions).toEqual([
      { action: 'crmTask', outcome: 'CRM sync is off (no HUBSPOT_ACCESS_TOKEN)', ok: false },
      { action: 'reassign', outcome: 'from agent-a to sup-s', ok: true },
    ])
    expect(log[2].actions[0]).toMatchObject({ action: 'webhook', ok: true })
    // markUnread reached WhatsApp through the session's queue.
    await vi.waitFor(async () => {
      const mods = (await f.services.sim!.actions('sales')).filter(
        (a) => a.kind === 'chatModify' && a.jid === chat,
      )
      expect(mods.map((m) => (m.kind === 'chatModify' ? m.modification : ''))).toEqual(['markUnread'])
    })
    // reassign moved the red counter from the agent to the supervisor.
    const after = await userCounters(f.services.inbox, f.services.rules.current(), 'sup-s')
    expect(after!.red - before!.red).toBe(1)
    expect((await f.services.inbox.getChat('sales', chat))?.owner).toBe('sup-s')
    // The webhook arrived, signed.
    await vi.waitFor(() => expect(hooks.some((h) => JSON.parse(h.body).chatJid === chat)).toBe(true))
    const hook = hooks.find((h) => JSON.parse(h.body).chatJid === chat)!
    const [t, v1] = String(hook.headers['x-tickbridge-signature'])
      .split(',')
      .map((p) => p.split('=')[1])
    expect(v1).toBe(signWebhook('whsec_test_only', Number(t), hook.body))
    expect((await f.services.sla.get('sales', chat))?.state).toBe('breached')
  })

  it('an open clock holds one timer: each level arms the next when it fires', async () => {
    const chat = pn(9506)
    const { queue, id } = await openClock(chat)
    const state = (level: number) => queue.getJobState(id(level))
    expect([await state(0), await state(1), await state(2)]).toEqual(['delayed', 'unknown', 'unknown'])
    await vi.waitFor(async () => expect(await events(chat)).toHaveLength(1), { timeout: 5000, interval: 20 })
    await vi.waitFor(async () => expect(await state(1)).toBe('delayed'), { timeout: 2000, interval: 20 })
    expect(await state(2)).toBe('unknown')
    await vi.waitFor(async () => expect(await events(chat)).toHaveLength(3), { timeout: 5000, interval: 50 })
  })

  it('a level retried after it fired (crash before arming the next) arms the next one', async () => {
    const chat = pn(9507)
    const { queue, clock, id } = await openClock(chat)
    await vi.waitFor(async () => expect(await events(chat)).toHaveLength(1), { timeout: 5000, interval: 20 })
    await vi.waitFor(async () => expect(await queue.getJobState(id(1))).toBe('delayed'))
    // As if the worker died after level 0 fired and before it armed level 1.
    await queue.remove(id(1))
    const process = levelProcessor()
    const level0 = { ...(await f.services.sla.get('sales', chat))!.levels[0]! }
    const data = {
      sessionId: 'sales',
      chatJid: chat,
      waitSeq: clock.waitSeq,
      level: 0,
      policyId: 'fast',
      dueAt: level0.dueAt,
    }
    expect(
      await task(catalog.slaLevel, process).run({ name: 'sla-level', data } as Job, { token: undefined }),
    ).toEqual({
      fired: false,
      reason: 'done',
    })
    expect(await queue.getJobState(id(1))).toBe('delayed')
    await vi.waitFor(
      async () => expect((await events(chat)).map((e: { level: number }) => e.level)).toEqual([1, 2, 3]),
      { timeout: 5000, interval: 50 },
    )
  })

  it('the typed client reads the same breach log', async () => {
    const url = await f.app.listen({ port: 0, host: '127.0.0.1' })
    const client = new TickbridgeClient({ baseUrl: url, apiKey: KEYS.acmeAdmin })
    const page = await client.slaEvents({ sessionId: 'sales', limit: 500 })
    const viaInject = (
      await f.app.inject({ url: '/v1/sla/events?sessionId=sales&limit=500', headers: bearer(KEYS.acmeAdmin) })
    ).json()
    expect(page).toEqual(viaInject)
    expect(page.items.length).toBeGreaterThanOrEqual(3)
  })

  it('timers lost with a killed worker come back when its event is delivered again', async () => {
    const chat = pn(9505)
    const message = {
      type: 'message' as const,
      sessionId: 'sales',
      key: { remoteJid: chat, fromMe: false, id: 'SLACRASH1' },
      timestamp: Date.now(),
      text: 'Hello?',
      origin: 'customer' as const,
    }
    await f.services.ingestor.ingest(message)
    const clock = (await f.services.sla.get('sales', chat))!
    const queue = f.services.queues.slaFor('sales')
    const ids = [0, 1, 2].map((l) =>
      catalog.slaLevel.jobId({ sessionId: 'sales', chatJid: chat, waitSeq: clock.waitSeq, level: l }),
    )
    // As if the worker died after recording the clock but before adding its timers.
    for (const id of ids) await queue.remove(id)
    expect(await Promise.all(ids.map((id) => queue.getJobState(id)))).toEqual([
      'unknown',
      'unknown',
      'unknown',
    ])
    // The same WhatsApp message again: a duplicate for the inbox, but the timers are ensured.
    const again = await f.services.ingestor.ingest(message)
    expect(again.ok && again.transition?.duplicate).toBe(true)
    await vi.waitFor(
      async () => expect((await events(chat)).map((e: { level: number }) => e.level)).toEqual([1, 2, 3]),
      {
        timeout: 5000,
        interval: 50,
      },
    )
  })

  it('Redis gone between recording a clock and adding its timer: the retried listener adds the timer', async () => {
    const chat = pn(9508)
    const queue = f.services.queues.slaFor('sales')
    // The first level's add for this chat fails as it does while Redis restarts; the listener is retried.
    const addForChat: unknown[] = []
    const original = queue.add.bind(queue)
    const add = vi.spyOn(queue, 'add').mockImplementation(async (name, data, opts) => {
      if ((data as { chatJid?: string }).chatJid === chat && addForChat.push(data) === 1)
        throw new Error('Connection is closed.')
      return original(name, data, opts)
    })
    try {
      await customerWrites(chat)
    } finally {
      add.mockRestore()
    }
    expect(addForChat).toHaveLength(2)
    await vi.waitFor(
      async () => expect((await events(chat)).map((e: { level: number }) => e.level)).toEqual([1, 2, 3]),
      { timeout: 5000, interval: 50 },
    )
  })

  it('Redis gone while a level hands on its work: the level is retried and its webhook still goes out', async () => {
    const chat = pn(9509)
    // The level-3 webhook's hand-off fails once, as a queue add does while Redis restarts.
    const handOffs = interceptWebhookHandOff(chat, (n) =>
      n === 1 ? new Error('Connection is closed.') : null,
    )
    try {
      await customerWrites(chat)
      await vi.waitFor(() => expect(hooks.some((h) => JSON.parse(h.body).chatJid === chat)).toBe(true), {
        timeout: 8000,
        interval: 50,
      })
    } finally {
      handOffs.restore()
    }
    expect(handOffs.count).toBe(2)
    // Logged once, when every action was handed on; not a firing that recorded the error and moved on.
    const log = await events(chat)
    expect(log.map((e: { level: number }) => e.level)).toEqual([1, 2, 3])
    expect(log[2].actions).toEqual([
      { action: 'webhook', outcome: expect.stringMatching(/^queued to/), ok: true },
      { action: 'setState', outcome: 'breached', ok: true },
    ])
    expect(hooks.filter((h) => JSON.parse(h.body).chatJid === chat)).toHaveLength(1)
  })

  it('an action whose job payload is refused is recorded as failed, and the ladder goes on', async () => {
    const chat = pn(9510)
    // Retrying cannot fix a payload the job's schema refuses: unlike a Redis error, it is not retried.
    const handOffs = interceptWebhookHandOff(
      chat,
      () => new InvalidJobPayloadError('sla-webhook', ['url: Invalid URL']),
    )
    try {
      await customerWrites(chat)
      await vi.waitFor(async () => expect(await events(chat)).toHaveLength(3), {
        timeout: 5000,
        interval: 50,
      })
    } finally {
      handOffs.restore()
    }
    expect((await events(chat))[2].actions).toEqual([
      { action: 'webhook', outcome: 'error: invalid sla-webhook payload: url: Invalid URL', ok: false },
      { action: 'setState', outcome: 'breached', ok: true },
    ])
    expect(hooks.filter((h) => JSON.parse(h.body).chatJid === chat)).toEqual([])
  })

  it('a reply between levels 1 and 2 stops levels 2 and 3', async () => {
    const chat = pn(9502)
    await customerWrites(chat)
    await vi.waitFor(async () => expect(await events(chat)).toHaveLength(1), { timeout: 5000, interval: 50 })
    const clock = await f.services.sla.get('sales', chat)
    await reply(chat)
    const queue = f.services.queues.slaFor('sales')
    expect(
      await queue.getJobState(
        catalog.slaLevel.jobId({ sessionId: 'sales', chatJid: chat, waitSeq: clock!.waitSeq, level: 1 }),
      ),
    ).toBe('unknown')
    expect(
      await queue.getJobState(
        catalog.slaLevel.jobId({ sessionId: 'sales', chatJid: chat, waitSeq: clock!.waitSeq, level: 2 }),
      ),
    ).toBe('unknown')
    expect(await f.services.sla.get('sales', chat)).toBeNull()
    expect((await events(chat)).map((e: { level: number }) => e.level)).toEqual([1])
  })

  it('a reply applied before the timer claims its level never produces an action', async () => {
    const chat = pn(9503)
    await customerWrites(chat)
    const clock = (await f.services.sla.get('sales', chat))!
    // The timer is due at the very moment the reply lands: the reply is applied first.
    await reply(chat)
    const process = levelProcessor()
    const data = {
      sessionId: 'sales',
      chatJid: chat,
      waitSeq: clock.waitSeq,
      level: 0,
      policyId: 'fast',
      dueAt: Date.now(),
    }
    expect(
      await task(catalog.slaLevel, process).run({ name: 'sla-level', data } as Job, { token: undefined }),
    ).toEqual({
      fired: false,
      reason: 'stale',
    })
    const mods = (await f.services.sim!.actions('sales')).filter(
      (a) => a.kind === 'chatModify' && a.jid === chat,
    )
    expect(mods).toEqual([])
    expect(await events(chat)).toEqual([])
  })

  it('a rules change re-plans the open clocks', async () => {
    await writeFile(rulesPath, rules(['1h', '2h', '3h']))
    await f.services.rules.reload()
    const chat = pn(9504)
    await customerWrites(chat)
    const before = (await f.services.sla.get('sales', chat))!
    expect(before.levels.map((l) => l.dueAt - before.waitingSince)).toEqual([
      3_600_000, 7_200_000, 10_800_000,
    ])
    await writeFile(rulesPath, rules(['30m', '1h', '90m']))
    await f.services.rules.reload()
    await f.services.slaPlanner.replanAll()
    const after = (await f.services.sla.get('sales', chat))!
    expect(after.waitSeq).toBe(before.waitSeq)
    expect(after.levels.map((l) => l.dueAt - after.waitingSince)).toEqual([1_800_000, 3_600_000, 5_400_000])
    const job = await f.services.queues
      .slaFor('sales')
      .getJob(catalog.slaLevel.jobId({ sessionId: 'sales', chatJid: chat, waitSeq: after.waitSeq, level: 0 }))
    expect(job?.opts.delay).toBeGreaterThan(1_700_000)
    expect(job?.opts.delay).toBeLessThanOrEqual(1_800_000)
    await reply(chat)
    await writeFile(rulesPath, rules(['600ms', '1200ms', '1800ms']))
    await f.services.rules.reload()
  })
})
