import { pino } from 'pino'
import { catalog, JobProducer } from '../../jobs/catalog.js'
import { systemClock } from '../../src/clock.js'
import { messageEventSchema } from '../../src/domain/events.js'
import type { ChatTransition } from '../../src/inbox/chat.js'
import { InboxStore } from '../../src/inbox/store.js'
import { createGlobalQueues } from '../../src/queues.js'
import { compileRules } from '../../src/rules/compile.js'
import { rulesSchema } from '../../src/rules/schema.js'
import { SlaPlanner } from '../../src/sla/sla-planner.js'
import { SlaStore } from '../../src/sla/sla-store.js'
import { type Benchmark, drive, figure, usedMemory } from './stats.js'

/**
 * "sla": arm SLA clocks for many waiting chats, then cancel them all by replies, through the real
 * planner (read the chat, match the policy, plan 3 levels in business time, record the clock, schedule
 * the first level with a deterministic id; each level arms the next when it fires). Baseline in the
 * same run: the naive approach, raw BullMQ adding one delayed job per level (3 per chat), then removing
 * them. Memory per open clock = Redis growth while arming / chats.
 */
const CHATS = Number(process.env.TB_BENCH_SLA_CHATS ?? 100_000)
const CONCURRENCY = 64
const LEVELS = 3

interface SlaRun {
  armPerSec: number
  cancelPerSec: number
  rawAddPerSec: number
  rawRemovePerSec: number
  bytesPerClock: number
}

const rules = compileRules(
  rulesSchema.parse({
    version: 1,
    orgs: [{ id: 'o' }],
    sessions: [{ id: 's1', org: 'o' }],
    sla: {
      policies: [
        {
          id: 'p',
          firstResponse: '1h',
          levels: [
            { after: '1h', actions: [{ setState: 'warning' }] },
            { after: '2h', actions: [{ markUnread: true }] },
            { after: '3h', actions: [{ setState: 'breached' }] },
          ],
        },
      ],
    },
  }),
)

const chatJid = (i: number) => `49${String(1_000_000_000 + i)}@s.whatsapp.net`

export const slaBenchmark: Benchmark<SlaRun> = {
  name: 'sla',
  description: `arm ${CHATS} SLA clocks (${LEVELS} levels each) and cancel them by replies, vs raw BullMQ add/remove`,
  defaultRuns: 3,
  async runOnce(ctx) {
    const inbox = new InboxStore(ctx.redis, ctx.keys)
    const queues = createGlobalQueues(ctx.redis, ctx.prefix)
    const store = new SlaStore(ctx.redis, ctx.keys)
    const planner = new SlaPlanner({
      store,
      inbox,
      jobs: JobProducer.over(
        {
          get: () => {
            throw new Error('the SLA bench has no session queues')
          },
        },
        queues,
      ),
      rules: () => rules,
      clock: systemClock,
      log: pino({ level: 'silent' }),
    })
    try {
      const now = Date.now()
      ctx.progress(`sla: ${CHATS} chats start waiting (not timed)`)
      const started: ChatTransition[] = []
      await drive(CHATS, CONCURRENCY, async (i) => {
        started[i] = await inbox.applyMessage(
          messageEventSchema.parse({
            type: 'message',
            sessionId: 's1',
            key: { remoteJid: chatJid(i), fromMe: false, id: `IN${i}` },
            timestamp: now,
            text: 'hello',
            origin: 'customer',
          }),
          { countsAsAnswer: false, defaultOwner: null, now },
        )
      })
      const beforeArm = await usedMemory(ctx.redis)
      ctx.progress('sla: arming')
      // What the planner does for each message in production: act on the transition it caused.
      const armMs = await drive(CHATS, CONCURRENCY, (i) => planner.sync('s1', chatJid(i), started[i]))
      const bytesPerClock = (await usedMemory(ctx.redis)) - beforeArm
      // One timer per open clock: each level arms the next when it fires.
      if ((await queues.slaFor('s1').getDelayedCount()) !== CHATS)
        throw new Error('not every clock has its next level scheduled')
      ctx.progress('sla: cancelling by replies')
      const replied: ChatTransition[] = []
      await drive(CHATS, CONCURRENCY, async (i) => {
        replied[i] = await inbox.applyMessage(
          messageEventSchema.parse({
            type: 'message',
            sessionId: 's1',
            key: { remoteJid: chatJid(i), fromMe: true, id: `OUT${i}` },
            timestamp: now + 1,
            text: 'answer',
            origin: 'phone',
          }),
          { countsAsAnswer: true, defaultOwner: null, now },
        )
      })
      const cancelMs = await drive(CHATS, CONCURRENCY, (i) => planner.sync('s1', chatJid(i), replied[i]))
      if ((await queues.slaFor('s1').getDelayedCount()) !== 0)
        throw new Error('cancelled clocks left timers behind')

      ctx.progress('sla: raw BullMQ baseline')
      const raw = queues.webhooks // an idle queue of the same prefix, so keys are alike
      const rawAddMs = await drive(CHATS, CONCURRENCY, async (i) => {
        await raw.addBulk(
          Array.from({ length: LEVELS }, (_, l) => ({
            name: 'raw',
            data: { i, l },
            opts: {
              jobId: catalog.slaLevel.jobId({ sessionId: 's1', chatJid: chatJid(i), waitSeq: 1, level: l }),
              delay: 3_600_000 * (l + 1),
            },
          })),
        )
      })
      const rawRemoveMs = await drive(CHATS, CONCURRENCY, async (i) => {
        await Promise.all(
          Array.from({ length: LEVELS }, (_, l) =>
            raw.remove(
              catalog.slaLevel.jobId({ sessionId: 's1', chatJid: chatJid(i), waitSeq: 1, level: l }),
            ),
          ),
        )
      })
      return {
        armPerSec: CHATS / (armMs / 1000),
        cancelPerSec: CHATS / (cancelMs / 1000),
        rawAddPerSec: CHATS / (rawAddMs / 1000),
        rawRemovePerSec: CHATS / (rawRemoveMs / 1000),
        bytesPerClock: bytesPerClock / CHATS,
      }
    } finally {
      await queues.close()
    }
  },
  report(runs) {
    const arm = runs.map((r) => r.armPerSec)
    const cancel = runs.map((r) => r.cancelPerSec)
    return {
      chats: CHATS,
      levelsPerClock: LEVELS,
      concurrency: CONCURRENCY,
      ours: { armClocksPerSec: figure(arm, 0), cancelClocksPerSec: figure(cancel, 0) },
      baseline: {
        what: `raw BullMQ: addBulk of the same ${LEVELS} delayed jobs per chat, then ${LEVELS} removes per chat`,
        addClocksPerSec: figure(
          runs.map((r) => r.rawAddPerSec),
          0,
        ),
        removeClocksPerSec: figure(
          runs.map((r) => r.rawRemovePerSec),
          0,
        ),
      },
      ratio: {
        arm: figure(
          runs.map((r) => r.armPerSec / r.rawAddPerSec),
          3,
        ),
        cancel: figure(
          runs.map((r) => r.cancelPerSec / r.rawRemovePerSec),
          3,
        ),
        target: 'at least 0.5 of the raw rate',
      },
      bytesPerOpenClock: figure(
        runs.map((r) => r.bytesPerClock),
        0,
      ),
      notes:
        'Memory is server-wide used_memory growth while arming, divided by chats: the clock record, the open index and its one delayed job (the next level).',
    }
  },
}
