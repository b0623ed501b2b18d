import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Job } from 'bullmq'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { catalog, task } from '../../jobs/catalog.js'
import { counterResetProcessor } from '../../jobs/counter-reset.js'
import { systemClock } from '../../src/clock.js'
import { ResetSchedules } from '../../src/counters/reset-schedules.js'
import { userCounters } from '../../src/inbox/counters.js'
import { startWorker } from '../../src/worker/worker.js'
import { appFixture } from '../helpers/app.js'
import { inbound, pn } from '../helpers/events.js'

interface ResetRule {
  id: string
  cron: string
  timeZone: string
  scope: string
}

const NIGHTLY: ResetRule = {
  id: 'acme-nightly',
  cron: '0 0 * * *',
  timeZone: 'Europe/Berlin',
  scope: 'org: acme',
}
const SUPPORT: ResetRule = {
  id: 'support-evening',
  cron: '30 18 * * 1-5',
  timeZone: 'America/New_York',
  scope: 'session: acme-support',
}

function rules(resets: ResetRule[]): string {
  const list = resets.length
    ? resets
        .map(
          (r) => `    - { id: ${r.id}, cron: "${r.cron}", timeZone: ${r.timeZone}, scope: { ${r.scope} } }`,
        )
        .join('\n')
    : '    []'
  return `version: 1
orgs: [{ id: acme }, { id: globex }]
sessions:
  - { id: acme-sales, org: acme, defaultOwner: anna }
  - { id: acme-support, org: acme }
  - { id: globex-main, org: globex, defaultOwner: gina }
users:
  - { id: anna, org: acme, role: agent }
  - { id: ben, org: acme, role: agent, takesNewClients: true }
  - { id: gina, org: globex, role: agent }
counters:
  resets:
${list}
`
}

let dir = ''
let rulesPath = ''
let f: Awaited<ReturnType<typeof appFixture<typeof systemClock>>>
const schedulesOf = (lockKey = 'sync-lock') =>
  new ResetSchedules({
    jobs: f.services.jobs,
    redis: f.redis,
    lockKey: f.services.keys.global(lockKey),
    log: f.services.log,
  })
const setRules = async (resets: ResetRule[]) => {
  await writeFile(rulesPath, rules(resets))
  const { applied, problems } = await f.services.rules.reload()
  expect(problems).toEqual([])
  return applied
}
/** The schedulers as a plain, comparable list. */
const listed = async () =>
  (await f.services.queues.counters.getJobSchedulers(0, -1, true))
    .map((s) => ({ id: s.key, name: s.name, pattern: s.pattern, tz: s.tz, data: s.template?.data }))
    .sort((a, b) => a.id.localeCompare(b.id))
const hourIn = (ms: number, timeZone: string) =>
  new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
    ms,
  )

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-resets-'))
  rulesPath = join(dir, 'rules.yaml')
  await writeFile(rulesPath, rules([]))
  f = await appFixture('reset-schedules', { rulesPath, clock: systemClock })
})
afterAll(async () => {
  await f.cleanup()
  await rm(dir, { recursive: true, force: true })
})

describe('reset schedules follow the rules', () => {
  beforeEach(async () => {
    await setRules([])
    await schedulesOf().sync(f.services.rules.current())
  })

  it('one scheduler per rule, with the cron as pattern and the time zone as tz', async () => {
    await setRules([NIGHTLY, SUPPORT])
    const result = await schedulesOf().sync(f.services.rules.current())
    expect(result).toEqual({ upserted: ['acme-nightly', 'support-evening'], removed: [], unchanged: [] })
    expect(await listed()).toEqual([
      {
        id: 'acme-nightly',
        name: catalog.counterReset.name,
        pattern: '0 0 * * *',
        tz: 'Europe/Berlin',
        data: { ruleId: 'acme-nightly' },
      },
      {
        id: 'support-evening',
        name: catalog.counterReset.name,
        pattern: '30 18 * * 1-5',
        tz: 'America/New_York',
        data: { ruleId: 'support-evening' },
      },
    ])
    // The next run is computed in each rule's own zone: midnight in Berlin, 18:30 in New York.
    const next = new Map(
      (await f.services.queues.counters.getJobSchedulers()).map((s) => [s.key, s.next!] as const),
    )
    expect(hourIn(next.get('acme-nightly')!, 'Europe/Berlin')).toBe('00:00')
    expect(hourIn(next.get('support-evening')!, 'America/New_York')).toBe('18:30')
    // One pending job per scheduler, not per user or session.
    expect(await f.services.queues.counters.getDelayedCount()).toBe(2)
  })

  it('is idempotent, also when several workers sync at once', async () => {
    await setRules([NIGHTLY, SUPPORT])
    const racing = await Promise.all(
      Array.from({ length: 4 }, () => schedulesOf().sync(f.services.rules.current())),
    )
    // Whichever sync took the lock first created both; the others found them in place.
    expect(racing.flatMap((r) => r.upserted).sort()).toEqual(['acme-nightly', 'support-evening'])
    expect(await listed()).toHaveLength(2)
    expect(await f.services.queues.counters.getDelayedCount()).toBe(2)
    const nextRuns = async () =>
      (await f.services.queues.counters.getJobSchedulers()).map((s) => [s.key, s.next]).sort()
    const before = await nextRuns()
    expect(await schedulesOf().sync(f.services.rules.current())).toEqual({
      upserted: [],
      removed: [],
      unchanged: ['acme-nightly', 'support-evening'],
    })
    expect(await nextRuns()).toEqual(before)
    expect(await f.services.queues.counters.getDelayedCount()).toBe(2)
  })

  it('a changed cron or time zone updates the scheduler; a removed rule removes it', async () => {
    await setRules([NIGHTLY, SUPPORT])
    await schedulesOf().sync(f.services.rules.current())
    await setRules([{ ...NIGHTLY, cron: '15 6 * * *' }, SUPPORT])
    expect(await schedulesOf().sync(f.services.rules.current())).toEqual({
      upserted: ['acme-nightly'],
      removed: [],
      unchanged: ['support-evening'],
    })
    await setRules([{ ...NIGHTLY, cron: '15 6 * * *', timeZone: 'Asia/Tokyo' }, SUPPORT])
    await schedulesOf().sync(f.services.rules.current())
    const nightly = await f.services.queues.counters.getJobScheduler('acme-nightly')
    expect(nightly).toMatchObject({ pattern: '15 6 * * *', tz: 'Asia/Tokyo' })
    expect(hourIn(nightly!.next!, 'Asia/Tokyo')).toBe('06:15')
    expect(await f.services.queues.counters.getDelayedCount()).toBe(2)

    await setRules([SUPPORT])
    expect(await schedulesOf().sync(f.services.rules.current())).toEqual({
      upserted: [],
      removed: ['acme-nightly'],
      unchanged: ['support-evening'],
    })
    expect((await listed()).map((s) => s.id)).toEqual(['support-evening'])
    expect(await f.services.queues.counters.getDelayedCount()).toBe(1)
  })

  it('the worker syncs at start and after every hot reload', async () => {
    await setRules([NIGHTLY])
    const worker = await startWorker(f.services, {
      timings: { tickMs: 100, leaseMs: 1000, workerTtlMs: 500 },
    })
    try {
      expect((await listed()).map((s) => s.id)).toEqual(['acme-nightly'])
      await setRules([SUPPORT])
      await vi.waitFor(async () => expect((await listed()).map((s) => s.id)).toEqual(['support-evening']))
      await setRules([{ ...SUPPORT, cron: '0 7 * * *' }])
      await vi.waitFor(async () => expect((await listed())[0]?.pattern).toBe('0 7 * * *'))
    } finally {
      await worker.close()
    }
  })
})

describe('counter-reset processor', () => {
  /** The processor as the worker runs it: bound to its catalog entry, which parses the payload. */
  const processor = () => (j: Job) =>
    task(
      catalog.counterReset,
      counterResetProcessor({
        inbox: f.services.inbox,
        ingestor: f.services.ingestor,
        metrics: f.services.metrics,
        rules: () => f.services.rules.current(),
        clock: f.services.clock,
        log: f.services.log,
      }),
    ).run(j, { token: undefined })
  const job = (ruleId: string, prevMillis?: number) =>
    ({
      id: `repeat:${ruleId}:1`,
      name: catalog.counterReset.name,
      data: { ruleId },
      opts: prevMillis ? { prevMillis } : {},
    }) as unknown as Job
  const red = async (userId: string) =>
    (await userCounters(f.services.inbox, f.services.rules.current(), userId))!.red
  let n = 9000
  /** Messages a minute ago: anna 2 in sales, unassigned 1 in support (ben's red), gina 1 in globex. */
  const seed = async () => {
    const ts = Date.now() - 60_000
    for (const [sid, count] of [
      ['acme-sales', 2],
      ['acme-support', 1],
      ['globex-main', 1],
    ] as const) {
      for (let i = 0; i < count; i++) await f.services.ingestor.ingest(inbound(sid, pn(++n), { ts: ts + i }))
    }
  }

  beforeEach(async () => {
    await setRules([NIGHTLY, SUPPORT])
    // Start each case from zero everywhere.
    for (const sid of ['acme-sales', 'acme-support', 'globex-main']) {
      await f.services.ingestor.ingest({ type: 'counters.reset', sessionId: sid, at: Date.now() })
    }
  })

  it('an org-wide rule fans out over every session of the org, and only that org', async () => {
    await seed()
    expect([await red('anna'), await red('ben'), await red('gina')]).toEqual([2, 1, 1])
    const before = (await f.services.metrics.counterResets.get()).values.find(
      (v) => v.labels.trigger === 'schedule',
    )
    const out = await processor()(job('acme-nightly'))
    expect(out).toEqual({
      reset: true,
      ruleId: 'acme-nightly',
      sessions: ['acme-sales', 'acme-support'],
      chats: 3,
      messages: 3,
    })
    expect([await red('anna'), await red('ben'), await red('gina')]).toEqual([0, 0, 1])
    const after = (await f.services.metrics.counterResets.get()).values.find(
      (v) => v.labels.trigger === 'schedule',
    )
    expect((after?.value ?? 0) - (before?.value ?? 0)).toBe(1)
  })

  it('a session rule resets that session only; the rule is read from the rules in force', async () => {
    await seed()
    expect(await processor()(job('support-evening'))).toMatchObject({ sessions: ['acme-support'], chats: 1 })
    expect([await red('anna'), await red('ben')]).toEqual([2, 0])
    // The scope changed in the rules since the scheduler was made: the firing follows the rules.
    await setRules([NIGHTLY, { ...SUPPORT, scope: 'session: acme-sales' }])
    expect(await processor()(job('support-evening'))).toMatchObject({ sessions: ['acme-sales'], chats: 2 })
    expect(await red('anna')).toBe(0)
  })

  it('resets as of the scheduled instant: a message after it keeps waiting, a rerun clears nothing more', async () => {
    await seed()
    const due = Date.now() - 30_000
    await f.services.ingestor.ingest(inbound('acme-sales', pn(++n), { ts: due + 10_000 }))
    expect(await red('anna')).toBe(3)
    const first = await processor()(job('acme-nightly', due))
    expect(first).toMatchObject({ chats: 3, messages: 3 })
    expect(await red('anna')).toBe(1)
    expect(await processor()(job('acme-nightly', due))).toMatchObject({ chats: 0, messages: 0 })
    expect(await red('anna')).toBe(1)
  })

  it("a scheduler's own job carries its due instant (prevMillis) into the processor", async () => {
    await schedulesOf().sync(f.services.rules.current())
    const scheduler = (await f.services.queues.counters.getJobScheduler('acme-nightly'))!
    const real = await f.services.queues.counters.getJob(`repeat:acme-nightly:${scheduler.next}`)
    expect(real?.opts.prevMillis).toBe(scheduler.next)
    expect(real?.data).toEqual({ ruleId: 'acme-nightly' })
  })

  it('a rule that is gone is a logged no-op', async () => {
    await seed()
    const lines = f.logLines.length
    expect(await processor()(job('deleted-rule'))).toEqual({
      reset: false,
      ruleId: 'deleted-rule',
      reason: 'unknown rule',
    })
    expect(await red('anna')).toBe(2)
    expect(
      f.logLines.slice(lines).some((l) => l.includes('no longer in the rules') && l.includes('deleted-rule')),
    ).toBe(true)
  })
})
