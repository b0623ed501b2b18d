import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { type ConnectionOptions, type Job, Queue, Worker } from 'bullmq'
import type { Redis } from 'ioredis'
import { type Logger, pino } from 'pino'
import { catalog, JobProducer, task, taskList } from '../../jobs/catalog.js'
import { seenReceiptProcessor } from '../../jobs/seen-receipt.js'
import { systemClock } from '../../src/clock.js'
import { Ingestor, ingestRulesFrom } from '../../src/inbox/ingest.js'
import { InboxStore } from '../../src/inbox/store.js'
import { Keys } from '../../src/keys.js'
import { createMetrics } from '../../src/metrics.js'
import { planDelay } from '../../src/receipts/delay-model.js'
import { ReceiptPlanner } from '../../src/receipts/planner.js'
import { ReceiptStore } from '../../src/receipts/receipt-store.js'
import type { Rules } from '../../src/rules/compile.js'
import { validateRules } from '../../src/rules/load.js'
import type { SeenDelay } from '../../src/rules/schema.js'
import type { WhatsAppSession } from '../../src/whatsapp/port.js'
import { SimNetwork } from '../../src/whatsapp/sim/network.js'
import { SimTransport } from '../../src/whatsapp/sim/transport.js'
import { runSessionJob } from '../../src/worker/session-jobs.js'
import { SessionQueues, sessionQueueName } from '../../src/worker/session-queues.js'
import { deleteByPrefix } from '../helpers/redis.js'
import { type BenchContext, type Benchmark, figure, percentileSorted, rng, usedMemory } from './stats.js'

/**
 * Seen receipts under live traffic: 1,000 chats over 10 sessions receive customer messages in bursts for
 * `--seconds` of real time (default 60) under the `auto` policy with the default delay parameters. Ours:
 * every message goes through the real Ingestor into the real ReceiptPlanner (batches in Redis, one delayed
 * job per chat), consumed per session by one BullMQ Worker at concurrency 1 running `runSessionJob` with
 * the real seen-receipt processor over sim sessions. Baseline, the naive approach on the same message
 * stream: one raw BullMQ delayed job per message (same single-message planDelay) and one receipt each.
 * The two run one after the other, each on its own prefix, then again briefly at `hz 100`.
 */

export const RECEIPT_CHATS = 1_000
const SESSIONS = 10
const DEFAULT_SECONDS = 60
/** Redis `hz` of the second, short pass (about 10 ms between checks of blocked clients' timeouts). */
const FAST_HZ = 100
/** Traffic model: per chat, pauses (exponential) between bursts of messages. */
const PAUSE_MEAN_MS = 17_500
const BURST_MAX = 6
const GAP_MIN_MS = 500
const GAP_MAX_MS = 4_000
const WORDS_MIN = 3
const WORDS_MAX = 40
const SAMPLE_MS = 250
/** After the traffic, how long every receipt may take to go out (the 20 s clamp plus retries). */
const DRAIN_TIMEOUT_MS = 60_000
const TARGET_RECEIPTS_PER_MESSAGE = 0.35
const TARGET_P99_MS = 100
/** The planner's and the baseline's delay draws: the same sequence, so message i gets the same delay. */
const DELAY_SEED_SALT = 0x5eed

const SIDS = Array.from({ length: SESSIONS }, (_, i) => `s${i}`)
const chatJid = (c: number) => `49${String(1_000_000_000 + c)}@s.whatsapp.net`
const sidOf = (c: number) => SIDS[c % SESSIONS]!

const WORDS = (
  'hi hello ok thanks please order invoice delivery when where is the my your can you send me again ' +
  'today tomorrow price blue red size address change cancel refund paid waiting still available ' +
  'office store open close number photo and but not yet already problem help'
).split(' ')

export interface ReceiptMessage {
  /** Offset from the start of the traffic, ms. */
  at: number
  chat: number
  id: string
  text: string
}

export interface ReceiptsWorkload {
  seconds: number
  messages: ReceiptMessage[]
  bursts: number
  words: number
}

/** The same message stream for the same seed and duration. */
export function receiptsWorkload(seed: number, seconds: number, chats = RECEIPT_CHATS): ReceiptsWorkload {
  const rand = rng(seed)
  const horizon = seconds * 1000
  const exp = (mean: number) => -mean * Math.log(1 - rand())
  const raw: Array<Omit<ReceiptMessage, 'id'>> = []
  let bursts = 0
  let words = 0
  for (let chat = 0; chat < chats; chat++) {
    let t = exp(PAUSE_MEAN_MS)
    while (t < horizon) {
      bursts++
      const size = 1 + Math.floor(rand() * BURST_MAX)
      for (let k = 0; k < size; k++) {
        if (k > 0) t += GAP_MIN_MS + rand() * (GAP_MAX_MS - GAP_MIN_MS)
        if (t >= horizon) break
        const n = WORDS_MIN + Math.floor(rand() * (WORDS_MAX - WORDS_MIN + 1))
        words += n
        const text = Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]!).join(' ')
        raw.push({ at: Math.round(t), chat, text })
      }
      t += exp(PAUSE_MEAN_MS)
    }
  }
  raw.sort((a, b) => a.at - b.at || a.chat - b.chat)
  const messages = raw.map((m, i) => ({ ...m, id: `3EB0${i.toString(16).toUpperCase().padStart(16, '0')}` }))
  return { seconds, messages, bursts, words }
}

function benchRules(): Rules {
  const r = validateRules({
    version: 1,
    orgs: [{ id: 'bench' }],
    // Only the policy is set: every delay parameter keeps its rulesSchema default.
    sessions: SIDS.map((id) => ({ id, org: 'bench', seen: { policy: 'auto' } })),
  })
  if (!r.ok) throw new Error(`bench rules are invalid: ${r.problems.join('; ')}`)
  return r.rules
}

/** One side of a pass (ours or the baseline), started on its own key prefix with its workers running. */
interface Side {
  bullPrefix: string
  queueNames: string[]
  network: SimNetwork
  /** Called for each message at its time, one at a time, in order. */
  submit(m: ReceiptMessage): Promise<void>
  /** Messages covered by completed receipt jobs so far. */
  covered(): number
  /** Receipt jobs that sent something: actual send minus planned due time, ms. */
  lateness: number[]
  failedAttempts(): number
  /** What the pending state weighs in Redis right now (see delayedKeyBytes). */
  pendingKeyBytes(r: Redis): Promise<PendingBytes>
  close(): Promise<void>
}

interface PassResult {
  messages: number
  receipts: number
  receiptsPerMessage: number
  meanBatchSize: number
  lateP50Ms: number
  lateP99Ms: number
  lateMaxMs: number
  /** Receipts sent before their planned time, and the earliest (most negative lateness). */
  early: number
  lateMinMs: number
  timeToViewP50Ms: number
  timeToViewP99Ms: number
  /** Messages receipted sooner after their arrival than the delay model's `baseMin`. */
  readUnderBaseMin: number
  memBaselineBytes: number
  memPeakBytes: number
  memAfterDrainBytes: number
  peakPending: number
  memoryPerPendingBytes: number
  pendingAtTrafficEnd: number
  pendingMessagesAtTrafficEnd: number
  /** Job hash + share of the delayed zset, per pending unit. */
  jobBytesPerPending: number
  /** For ours: the chat's batch + meta hashes, per pending chat. */
  stateBytesPerPending: number
  drainMs: number
  trafficLagP99Ms: number
  eventLoopDelayP99Ms: number
  failedAttempts: number
}

function workerConnection(redis: Redis, name: string): Redis {
  return redis.duplicate({ maxRetriesPerRequest: null, connectionName: name })
}

async function startSessions(
  redis: Redis,
  keys: Keys,
  log: Logger,
  sink: (e: unknown) => Promise<void>,
): Promise<{ network: SimNetwork; sessions: Map<string, WhatsAppSession> }> {
  const network = new SimNetwork(redis, keys, systemClock)
  const transport = new SimTransport({ redis, keys, network, log })
  const sessions = new Map<string, WhatsAppSession>()
  for (const sid of SIDS) sessions.set(sid, await transport.open(sid, sink))
  return { network, sessions }
}

interface PendingBytes {
  /** Delayed jobs (pending units: chats with a batch for ours, messages for the baseline). */
  pending: number
  /** Messages they wait to receipt. */
  messages: number
  jobBytes: number
  stateBytes: number
}

/**
 * MEMORY USAGE of the pending state: each delayed job's hash and the delayed zsets (`jobBytes`), plus
 * the keys `state(jobId)` names (`stateBytes`), whose `hash` (HLEN) counts the messages of the unit.
 */
async function delayedKeyBytes(
  r: Redis,
  bullPrefix: string,
  queueNames: Array<[sid: string, queue: string]>,
  state?: (sid: string, jobId: string) => { keys: string[]; hash: string },
): Promise<PendingBytes> {
  const out: PendingBytes = { pending: 0, messages: 0, jobBytes: 0, stateBytes: 0 }
  const usage = (v: unknown) => Number(v ?? 0)
  for (const [sid, q] of queueNames) {
    const delayedKey = `${bullPrefix}:${q}:delayed`
    const ids = await r.zrange(delayedKey, 0, -1)
    if (ids.length === 0) continue
    const p = r.pipeline()
    p.call('MEMORY', 'USAGE', delayedKey, 'SAMPLES', '0')
    for (const id of ids) {
      p.call('MEMORY', 'USAGE', `${bullPrefix}:${q}:${id}`, 'SAMPLES', '0')
      const own = state?.(sid, id)
      if (!own) continue
      p.hlen(own.hash)
      for (const k of own.keys) p.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')
    }
    const results = ((await p.exec()) ?? []).map(([err, v]) => {
      if (err) throw err
      return v
    })
    let at = 0
    out.jobBytes += usage(results[at++])
    for (const id of ids) {
      out.jobBytes += usage(results[at++])
      const own = state?.(sid, id)
      if (!own) {
        out.messages++
        continue
      }
      out.messages += Number(results[at++])
      for (let k = 0; k < own.keys.length; k++) out.stateBytes += usage(results[at++])
    }
    out.pending += ids.length
  }
  return out
}

async function startOurs(ctx: BenchContext, sub: string, log: Logger): Promise<Side> {
  const { redis } = ctx
  const keys = new Keys(sub)
  const rules = benchRules()
  const metrics = createMetrics()
  const ingestor = new Ingestor({
    store: new InboxStore(redis, keys),
    rules: () => ingestRulesFrom(rules),
    clock: systemClock,
    log,
    metrics,
  })
  const store = new ReceiptStore(redis, keys)
  const queues = new SessionQueues(redis, sub)
  const planner = new ReceiptPlanner({
    store,
    jobs: new JobProducer({
      session: (sid) => queues.get(sid),
      slaShard: () => {
        throw new Error('the receipts bench has no SLA queues')
      },
      global: () => {
        throw new Error('the receipts bench has no global queues')
      },
    }),
    rules: () => rules,
    clock: systemClock,
    log,
    rand: rng(ctx.seed ^ DELAY_SEED_SALT),
  })
  ingestor.onApplied(planner.onApplied)
  // Nothing arrives through the sim inbound streams (messages are ingested directly), but a session that
  // did deliver would go through the same door.
  const { network, sessions } = await startSessions(redis, keys, log, async (e) => {
    await ingestor.ingest(e)
  })
  const processors = taskList(
    task(catalog.seenReceipt, seenReceiptProcessor({ store, clock: systemClock, metrics })),
  )
  const lateness: number[] = []
  let covered = 0
  let failed = 0
  const connections: Redis[] = []
  const workers: Worker[] = []
  for (const sid of SIDS) {
    const connection = workerConnection(redis, `bench:receipts-ours:${sid}`)
    connections.push(connection)
    const worker = new Worker(
      sessionQueueName(sid),
      (job, token) => runSessionJob(job, token, sid, sessions.get(sid), processors),
      { connection: connection as unknown as ConnectionOptions, prefix: sub, concurrency: 1 },
    )
    worker.on('completed', (_job: Job, result: { sent: number; lateMs?: number | null }) => {
      covered += result.sent
      if (typeof result.lateMs === 'number') lateness.push(result.lateMs)
    })
    worker.on('failed', (job, err) => {
      failed++
      if (failed <= 5) ctx.progress(`ours: job ${job?.id} failed: ${err.message}`)
    })
    workers.push(worker)
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()))
  const queueNames = SIDS.map((sid): [string, string] => [sid, sessionQueueName(sid)])

  return {
    bullPrefix: sub,
    queueNames: queueNames.map(([, q]) => q),
    network,
    async submit(m) {
      const sid = sidOf(m.chat)
      const r = await ingestor.ingest({
        type: 'message',
        sessionId: sid,
        key: { remoteJid: chatJid(m.chat), fromMe: false, id: m.id },
        timestamp: Date.now(),
        text: m.text,
        pushName: `Customer ${m.chat}`,
        origin: 'customer',
        delivery: 'live',
      })
      if (!r.ok) throw new Error(`message ${m.id} was rejected: ${r.problems.join('; ')}`)
      if (r.transition?.duplicate) throw new Error(`message ${m.id} was taken for a duplicate`)
    },
    covered: () => covered,
    lateness,
    failedAttempts: () => failed,
    pendingKeyBytes: (r) =>
      delayedKeyBytes(r, sub, queueNames, (sid, jobId) => {
        // Job ids are `seen-<chat>-<gen>`; the chat's batch and meta hashes are its pending state.
        const chat = jobId.slice('seen-'.length, jobId.lastIndexOf('-'))
        const batch = keys.seenBatch(sid, chat)
        return { keys: [batch, keys.seenMeta(sid, chat)], hash: batch }
      }),
    async close() {
      await Promise.all(workers.map((w) => w.close()))
      await Promise.all([...sessions.values()].map((s) => s.close()))
      await queues.close()
      for (const c of connections) await c.quit().catch(() => c.disconnect())
    },
  }
}

const naiveQueueName = (sid: string) => `{${sid}}-naive`

async function startBaseline(ctx: BenchContext, sub: string, log: Logger): Promise<Side> {
  const { redis } = ctx
  const keys = new Keys(sub)
  const params: SeenDelay = benchRules().seenPolicyFor(SIDS[0]!)!.delay
  const rand = rng(ctx.seed ^ DELAY_SEED_SALT)
  const { network, sessions } = await startSessions(redis, keys, log, async () => {})
  const lateness: number[] = []
  let covered = 0
  let failed = 0
  const connections: Redis[] = []
  const workers: Worker[] = []
  const queues = new Map<string, Queue>()
  for (const sid of SIDS) {
    const name = naiveQueueName(sid)
    queues.set(sid, new Queue(name, { connection: redis as unknown as ConnectionOptions, prefix: sub }))
    const connection = workerConnection(redis, `bench:receipts-baseline:${sid}`)
    connections.push(connection)
    const session = sessions.get(sid)!
    const worker = new Worker(
      name,
      async (job: Job<{ chatJid: string; id: string }>) => {
        // The naive receipt: one readMessages per message, no batching, no idempotency.
        await session.readMessages([{ remoteJid: job.data.chatJid, fromMe: false, id: job.data.id }])
        // Planned: BullMQ's own schedule (the job's creation time plus its delay).
        return { lateMs: Date.now() - (job.timestamp + (job.opts.delay ?? 0)) }
      },
      { connection: connection as unknown as ConnectionOptions, prefix: sub, concurrency: 1 },
    )
    worker.on('completed', (_job: Job, result: { lateMs: number }) => {
      covered++
      lateness.push(result.lateMs)
    })
    worker.on('failed', (job, err) => {
      failed++
      if (failed <= 5) ctx.progress(`baseline: job ${job?.id} failed: ${err.message}`)
    })
    workers.push(worker)
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()))
  const queueNames = SIDS.map((sid): [string, string] => [sid, naiveQueueName(sid)])

  return {
    bullPrefix: sub,
    queueNames: queueNames.map(([, q]) => q),
    network,
    async submit(m) {
      const now = Date.now()
      // The same single-message delay the planner draws for this message (same sequence of draws).
      const { delayMs } = planDelay({
        messages: [{ text: m.text, media: false, timestamp: now }],
        now,
        rand,
        params,
      })
      await queues
        .get(sidOf(m.chat))!
        .add(
          'read',
          { chatJid: chatJid(m.chat), id: m.id },
          { delay: delayMs, removeOnComplete: true, removeOnFail: 1000 },
        )
    },
    covered: () => covered,
    lateness,
    failedAttempts: () => failed,
    pendingKeyBytes: (r) => delayedKeyBytes(r, sub, queueNames),
    async close() {
      await Promise.all(workers.map((w) => w.close()))
      await Promise.all([...sessions.values()].map((s) => s.close()))
      await Promise.all([...queues.values()].map((q) => q.close()))
      for (const c of connections) await c.quit().catch(() => c.disconnect())
    },
  }
}

/** Jobs not yet done: delayed (timers) plus waiting and running. */
async function pendingJobs(r: Redis, side: Side): Promise<number> {
  const p = r.pipeline()
  for (const q of side.queueNames) {
    p.zcard(`${side.bullPrefix}:${q}:delayed`)
    p.llen(`${side.bullPrefix}:${q}:wait`)
    p.llen(`${side.bullPrefix}:${q}:active`)
  }
  let n = 0
  for (const [err, v] of (await p.exec()) ?? []) {
    if (err) throw err
    n += Number(v)
  }
  return n
}

async function usedMemoryNow(r: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await r.info('memory'))?.[1])
}

/**
 * Every customer message must be in exactly one receipt, and a receipt covers one chat. Returns the
 * number of receipts and each message's time to view (receipt recorded minus arrival).
 */
async function checkReceipts(
  side: Side,
  w: ReceiptsWorkload,
  arrivals: Float64Array,
  label: string,
): Promise<{ receipts: number; timeToView: Float64Array }> {
  const index = new Map(w.messages.map((m, i) => [m.id, i]))
  const seen = new Uint8Array(w.messages.length)
  const timeToView = new Float64Array(w.messages.length)
  let receipts = 0
  const problems: string[] = []
  for (const sid of SIDS) {
    let after: string | undefined
    for (;;) {
      const page = await side.network.actions(sid, { ...(after ? { after } : {}), limit: 1000 })
      if (page.length === 0) break
      after = page.at(-1)!.seq
      for (const a of page) {
        if (a.kind !== 'read') continue
        receipts++
        const chats = new Set(a.keys.map((k) => k.remoteJid))
        if (chats.size !== 1) problems.push(`a receipt of ${sid} spans ${chats.size} chats`)
        for (const k of a.keys) {
          const i = index.get(k.id)
          if (i === undefined) {
            problems.push(`unknown message id ${k.id} in a receipt`)
            continue
          }
          const m = w.messages[i]!
          if (sidOf(m.chat) !== sid || chatJid(m.chat) !== k.remoteJid || k.fromMe)
            problems.push(`message ${k.id} receipted with a wrong key or session`)
          if (seen[i]! > 0) problems.push(`message ${k.id} is in more than one receipt`)
          seen[i]!++
          timeToView[i] = a.at - arrivals[i]!
        }
      }
    }
  }
  const missing = seen.reduce((n, s) => n + (s === 0 ? 1 : 0), 0)
  if (missing > 0) problems.push(`${missing} of ${w.messages.length} messages never got a receipt`)
  if (problems.length > 0) {
    const shown = [...new Set(problems)].slice(0, 10)
    throw new Error(
      `${label}: receipts broke the invariant (${problems.length} problems): ${shown.join('; ')}`,
    )
  }
  return { receipts, timeToView }
}

const sortedOf = (xs: ArrayLike<number>) => Float64Array.from(xs).sort()

/** Runs the traffic through one side, waits until every receipt is out, measures and checks. */
async function runPass(
  ctx: BenchContext,
  w: ReceiptsWorkload,
  label: string,
  side: Side,
): Promise<PassResult> {
  const sampler = ctx.redis.duplicate({ connectionName: 'bench:receipts-sampler' })
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  try {
    const n = w.messages.length
    const memBaselineBytes = await usedMemory(sampler)
    let memPeakBytes = memBaselineBytes
    let peakPending = 0
    let sampling = true
    const samplerLoop = (async () => {
      while (sampling) {
        const t = performance.now()
        const [mem, pending] = await Promise.all([usedMemoryNow(sampler), pendingJobs(sampler, side)])
        memPeakBytes = Math.max(memPeakBytes, mem)
        peakPending = Math.max(peakPending, pending)
        await sleep(Math.max(0, SAMPLE_MS - (performance.now() - t)))
      }
    })()

    loopDelay.enable()
    const lag = new Float64Array(n)
    const arrivals = new Float64Array(n)
    const t0 = performance.now() + 100
    let nextReport = 10_000
    try {
      for (let i = 0; i < n; i++) {
        const m = w.messages[i]!
        const wait = t0 + m.at - performance.now()
        if (wait >= 1) await sleep(wait)
        lag[i] = Math.max(0, performance.now() - (t0 + m.at))
        arrivals[i] = Date.now()
        await side.submit(m)
        if (m.at >= nextReport) {
          ctx.progress(`${label}: ${m.at / 1000} s, ${i + 1} messages, ${side.covered()} receipted`)
          nextReport += 10_000
        }
      }
    } finally {
      sampling = false
      await samplerLoop
    }
    const atEnd = await side.pendingKeyBytes(sampler)

    const drainStart = performance.now()
    for (;;) {
      if (side.covered() >= n && (await pendingJobs(sampler, side)) === 0) break
      if (performance.now() - drainStart > DRAIN_TIMEOUT_MS) {
        throw new Error(
          `${label}: receipts still pending ${DRAIN_TIMEOUT_MS / 1000} s after the traffic ` +
            `(${side.covered()} of ${n} messages receipted, ${side.failedAttempts()} failed attempts)`,
        )
      }
      await sleep(50)
    }
    const drainMs = performance.now() - drainStart
    loopDelay.disable()
    const memAfterDrainBytes = await usedMemory(sampler)

    const { receipts, timeToView } = await checkReceipts(side, w, arrivals, label)
    const late = sortedOf(side.lateness)
    if (late.length !== receipts)
      throw new Error(`${label}: ${receipts} receipts recorded but ${late.length} jobs reported lateness`)
    const ttv = sortedOf(timeToView)
    const baseMin = benchRules().seenPolicyFor(SIDS[0]!)!.delay.baseMin
    const lagSorted = sortedOf(lag)
    return {
      messages: n,
      receipts,
      receiptsPerMessage: receipts / n,
      meanBatchSize: n / receipts,
      lateP50Ms: percentileSorted(late, 50),
      lateP99Ms: percentileSorted(late, 99),
      lateMaxMs: late[late.length - 1] ?? Number.NaN,
      early: late.reduce((k, v) => k + (v < 0 ? 1 : 0), 0),
      lateMinMs: late[0] ?? Number.NaN,
      timeToViewP50Ms: percentileSorted(ttv, 50),
      timeToViewP99Ms: percentileSorted(ttv, 99),
      readUnderBaseMin: ttv.reduce((k, v) => k + (v < baseMin ? 1 : 0), 0),
      memBaselineBytes,
      memPeakBytes,
      memAfterDrainBytes,
      peakPending,
      memoryPerPendingBytes: peakPending > 0 ? (memPeakBytes - memBaselineBytes) / peakPending : Number.NaN,
      pendingAtTrafficEnd: atEnd.pending,
      pendingMessagesAtTrafficEnd: atEnd.messages,
      jobBytesPerPending: atEnd.jobBytes / atEnd.pending,
      stateBytesPerPending: atEnd.stateBytes / atEnd.pending,
      drainMs,
      trafficLagP99Ms: percentileSorted(lagSorted, 99),
      eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      failedAttempts: side.failedAttempts(),
    }
  } finally {
    loopDelay.disable()
    await sampler.quit().catch(() => sampler.disconnect())
  }
}

type Which = 'ours' | 'baseline'

async function pass(
  ctx: BenchContext,
  w: ReceiptsWorkload,
  tag: string,
  which: Which,
  log: Logger,
): Promise<PassResult> {
  const sub = `${ctx.prefix}:${tag}-${which}`
  const side = await (which === 'ours' ? startOurs : startBaseline)(ctx, sub, log)
  try {
    return await runPass(ctx, w, `${tag} ${which}`, side)
  } finally {
    await side.close()
    // Each side measures memory against its own start: remove this one's keys before the next begins.
    await deleteByPrefix(ctx.redis, sub)
  }
}

/** Both sides one after the other (alternating which goes first from run to run). */
async function pair(
  ctx: BenchContext,
  w: ReceiptsWorkload,
  tag: string,
  log: Logger,
): Promise<Record<Which, PassResult>> {
  const order: Which[] = ctx.run % 2 === 0 ? ['ours', 'baseline'] : ['baseline', 'ours']
  const out: Partial<Record<Which, PassResult>> = {}
  for (const which of order) {
    const r = await pass(ctx, w, tag, which, log)
    out[which] = r
    ctx.progress(
      `${tag} ${which}: ${r.receipts} receipts / ${r.messages} messages = ${r.receiptsPerMessage.toFixed(3)}, ` +
        `lateness p50 ${r.lateP50Ms} ms p99 ${r.lateP99Ms} ms max ${r.lateMaxMs} ms, ` +
        `peak ${r.peakPending} pending, ${Math.round(r.memoryPerPendingBytes)} B each ` +
        `(keys ${Math.round(r.jobBytesPerPending + r.stateBytesPerPending)} B), traffic lag p99 ${r.trafficLagP99Ms.toFixed(1)} ms, ` +
        `event loop p99 ${r.eventLoopDelayP99Ms.toFixed(1)} ms`,
    )
  }
  return out as Record<Which, PassResult>
}

export interface ReceiptsRun {
  hz: number
  seconds: number
  fastSeconds: number
  main: Record<Which, PassResult>
  fast: Record<Which, PassResult> | { skipped: string }
}

async function configHz(redis: Redis): Promise<number> {
  const [, value] = (await redis.config('GET', 'hz')) as [string, string]
  return Number(value)
}

const workloads = new Map<string, ReceiptsWorkload>()
function workloadFor(seed: number, seconds: number): ReceiptsWorkload {
  const key = `${seed}/${seconds}`
  let w = workloads.get(key)
  if (!w) {
    w = receiptsWorkload(seed, seconds)
    workloads.set(key, w)
  }
  return w
}
let last: { seed: number; seconds: number; fastSeconds: number } | undefined

export const receiptsBenchmark: Benchmark<ReceiptsRun> = {
  name: 'receipts',
  description: `${RECEIPT_CHATS} chats over ${SESSIONS} sessions receiving bursts of customer messages in real time (auto policy, default delays) against one raw delayed job per message`,
  defaultRuns: 3,

  async runOnce(ctx) {
    const seconds = ctx.seconds ?? DEFAULT_SECONDS
    const fastSeconds = Math.max(10, Math.round(seconds / 3))
    last = { seed: ctx.seed, seconds, fastSeconds }
    const w = workloadFor(ctx.seed, seconds)
    ctx.progress(
      `workload: ${w.messages.length} messages in ${w.bursts} bursts over ${seconds} s (${RECEIPT_CHATS} chats)`,
    )
    const log = pino({ level: 'warn' }, pino.destination(2))
    const hz = await configHz(ctx.redis)
    const main = await pair(ctx, w, `hz${hz}`, log)

    let fast: ReceiptsRun['fast']
    if (hz >= FAST_HZ) {
      fast = { skipped: `Redis already runs at hz ${hz}` }
    } else {
      const restore = async () => {
        await ctx.redis.config('SET', 'hz', String(hz))
      }
      let changed = false
      try {
        await ctx.redis.config('SET', 'hz', String(FAST_HZ))
        changed = true
      } catch (err) {
        fast = { skipped: `CONFIG SET hz refused: ${err instanceof Error ? err.message : String(err)}` }
      }
      if (changed) {
        const unregister = ctx.onInterrupt(restore)
        try {
          ctx.progress(`hz set to ${FAST_HZ} for a ${fastSeconds} s pass (restored afterwards)`)
          fast = await pair(ctx, workloadFor(ctx.seed, fastSeconds), `hz${FAST_HZ}`, log)
        } finally {
          await restore()
          unregister()
        }
        const now = await configHz(ctx.redis)
        if (now !== hz) throw new Error(`could not restore Redis hz to ${hz} (it is ${now})`)
        ctx.progress(`hz restored to ${hz}`)
      }
    }
    return { hz, seconds, fastSeconds, main, fast: fast! }
  },

  report(runs) {
    const { seed, seconds, fastSeconds } = last!
    const w = workloadFor(seed, seconds)
    const side = (get: (r: ReceiptsRun) => PassResult) => {
      const rs = runs.map(get)
      const f = (pick: (p: PassResult) => number, digits = 2) => figure(rs.map(pick), digits)
      return {
        messages: rs[0]!.messages,
        receipts: f((p) => p.receipts, 0),
        receiptsPerMessage: f((p) => p.receiptsPerMessage, 3),
        meanBatchSize: f((p) => p.meanBatchSize, 2),
        latenessMs: {
          p50: f((p) => p.lateP50Ms, 0),
          p99: f((p) => p.lateP99Ms, 0),
          max: f((p) => p.lateMaxMs, 0),
          early: f((p) => p.early, 0),
          min: f((p) => p.lateMinMs, 0),
        },
        timeToViewMs: {
          p50: f((p) => p.timeToViewP50Ms, 0),
          p99: f((p) => p.timeToViewP99Ms, 0),
          underBaseMin: f((p) => p.readUnderBaseMin, 0),
        },
        peakPending: f((p) => p.peakPending, 0),
        peakMemoryPerPendingBytes: f((p) => p.memoryPerPendingBytes, 0),
        memoryGrowthBytes: {
          peak: f((p) => p.memPeakBytes - p.memBaselineBytes, 0),
          afterDrain: f((p) => p.memAfterDrainBytes - p.memBaselineBytes, 0),
        },
        pendingAtTrafficEnd: {
          units: f((p) => p.pendingAtTrafficEnd, 0),
          messages: f((p) => p.pendingMessagesAtTrafficEnd, 0),
          keyBytesPerUnit: {
            total: f((p) => p.jobBytesPerPending + p.stateBytesPerPending, 0),
            job: f((p) => p.jobBytesPerPending, 0),
            chatState: f((p) => p.stateBytesPerPending, 0),
          },
          keyBytesPerMessage: f(
            (p) =>
              ((p.jobBytesPerPending + p.stateBytesPerPending) * p.pendingAtTrafficEnd) /
              p.pendingMessagesAtTrafficEnd,
            0,
          ),
        },
        drainMs: f((p) => p.drainMs, 0),
        trafficLagP99Ms: f((p) => p.trafficLagP99Ms, 1),
        eventLoopDelayP99Ms: f((p) => p.eventLoopDelayP99Ms, 1),
        failedAttempts: f((p) => p.failedAttempts, 0),
      }
    }
    const fastRuns = runs.filter(
      (r): r is ReceiptsRun & { fast: Record<Which, PassResult> } => !('skipped' in r.fast),
    )
    const fastSide = (which: Which) => {
      const rs = fastRuns.map((r) => r.fast[which])
      const f = (pick: (p: PassResult) => number, digits = 0) => figure(rs.map(pick), digits)
      return {
        messages: rs[0]!.messages,
        receiptsPerMessage: f((p) => p.receiptsPerMessage, 3),
        latenessMs: { p50: f((p) => p.lateP50Ms), p99: f((p) => p.lateP99Ms), max: f((p) => p.lateMaxMs) },
        eventLoopDelayP99Ms: f((p) => p.eventLoopDelayP99Ms, 1),
      }
    }
    const params = benchRules().seenPolicyFor(SIDS[0]!)!.delay
    const ours = side((r) => r.main.ours)
    const baseline = side((r) => r.main.baseline)
    return {
      description: this.description,
      runs: runs.length,
      seconds,
      chats: RECEIPT_CHATS,
      sessions: SESSIONS,
      seed,
      traffic: {
        messages: w.messages.length,
        bursts: w.bursts,
        meanWordsPerMessage: Math.round((w.words / w.messages.length) * 10) / 10,
        model: `per chat: exponential pauses (mean ${PAUSE_MEAN_MS / 1000} s) between bursts of 1-${BURST_MAX} messages ${GAP_MIN_MS / 1000}-${GAP_MAX_MS / 1000} s apart, ${WORDS_MIN}-${WORDS_MAX} words each`,
      },
      delay: params,
      redis: { hz: runs[0]!.hz, fastPassHz: fastRuns.length > 0 ? FAST_HZ : null },
      targets: { receiptsPerMessage: TARGET_RECEIPTS_PER_MESSAGE, latenessP99Ms: TARGET_P99_MS },
      ours: {
        what: 'real Ingestor + ReceiptPlanner (batch per chat, one delayed job per chat) and seen-receipt jobs in per-session queues (one Worker each, concurrency 1, runSessionJob, sim sessions)',
        ...ours,
      },
      baseline: {
        what: 'one raw BullMQ delayed job per message (delay: the same single-message planDelay draw), per-session plain queues with one raw Worker each (concurrency 1) recording one receipt per message on a sim session',
        ...baseline,
      },
      /** ours/baseline receipts per message, within each run. */
      receiptsRatio: figure(
        runs.map((r) => r.main.ours.receiptsPerMessage / r.main.baseline.receiptsPerMessage),
        3,
      ),
      fastHz:
        fastRuns.length > 0
          ? {
              hz: FAST_HZ,
              seconds: fastSeconds,
              runs: fastRuns.length,
              ours: fastSide('ours'),
              baseline: fastSide('baseline'),
            }
          : { skipped: runs.map((r) => ('skipped' in r.fast ? r.fast.skipped : '')).join('; ') },
      notes: [
        'ours and the baseline run sequentially (alternating which goes first), each on its own prefix, so ' +
          'neither adds event-loop or Redis load to the other’s lateness and memory is measured one at a time',
        'messages are ingested one at a time in schedule order straight into the Ingestor (not through the ' +
          'sim inbound stream), so the delay draws are the same for ours and the baseline; trafficLagP99Ms is how ' +
          'late the driver submitted messages against the schedule',
        'lateness = time the receipt was recorded on the sim session minus its planned time: for ours the ' +
          'batch’s due time as the seen-receipt processor reports it (lateMs, via the Worker’s completed event); ' +
          'for the baseline the job’s timestamp + delay. It includes Redis’ blocked-client timeout resolution ' +
          '(about 1000/hz ms), the worker loop and queueing behind other receipts of the same session',
        'latenessMs.early/min: receipts sent before their batch’s due time. A message that joins a batch whose ' +
          'job has already been promoted (waiting/running, not yet claimed) moves the due time in Redis, but ' +
          'changeDelay cannot move a job that is no longer delayed, so the job sends it at the old time ' +
          '(timeToViewMs.underBaseMin counts messages read sooner than baseMin after arrival, which also ' +
          'happens by design when a batch reaches its 20 s clamp)',
        'peakMemoryPerPendingBytes = (peak used_memory sampled every 250 ms during traffic - used_memory before) / ' +
          'peak pending jobs (delayed + waiting + active, i.e. chats with a scheduled batch for ours, timers for ' +
          'the baseline). Approximate and server-wide: it also counts everything the run keeps (inbox state, sent ids, ' +
          'the sim action log and its idempotency keys, BullMQ event streams; see memoryGrowthBytes.afterDrain) and ' +
          'anything other Redis clients did meanwhile',
        'pendingAtTrafficEnd: the pending state when the traffic stops, measured key by key with MEMORY USAGE ' +
          '(SAMPLES 0): units are delayed jobs (chats with a batch for ours, messages for the baseline); job = the ' +
          'job hash and its share of the delayed zset; chatState (ours) = the chat’s batch hash (one JSON entry ' +
          'per message, with its text) and meta hash. Exact, unlike the server-wide figure',
        `fastHz: a shorter pass (${fastSeconds} s of the same traffic model) with CONFIG SET hz ${FAST_HZ}, restored afterwards`,
      ],
    }
  },
}
