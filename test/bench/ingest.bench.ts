import type { Redis } from 'ioredis'
import { pino } from 'pino'
import { systemClock } from '../../src/clock.js'
import type { InboxEventInput } from '../../src/domain/events.js'
import { Ingestor, type IngestRules } from '../../src/inbox/ingest.js'
import { InboxStore } from '../../src/inbox/store.js'
import { createMetrics } from '../../src/metrics.js'
import {
  type BenchContext,
  type Benchmark,
  drive,
  figure,
  percentileSorted,
  rng,
  usedMemory,
} from './stats.js'

/**
 * Ingest throughput: a deterministic mix of WhatsApp events pushed through `Ingestor.ingest` (zod
 * validation + atomic Lua state update) with bounded concurrency over one connection, beside a baseline
 * of the same number of plain Redis round-trips (one HINCRBY per event on a hash per chat) at the same
 * concurrency: what the naive approach costs in raw Redis calls.
 */

export const INGEST_CHATS = 10_000
export const INGEST_EVENTS = 100_000
const CONCURRENCY = 64
const SESSION = 'bench'
const WARMUP_EVENTS = 1_000
const T0 = Date.UTC(2026, 10, 20, 9, 0, 0)
/** Shares of the event mix (the rest are duplicates/backlog replays). */
const SHARE_INBOUND = 0.7
const SHARE_OUTBOUND = 0.15
const SHARE_READ = 0.1
const GROUP_CHATS = 0.1
const LID_CHATS = 0.25
const PEOPLE = 30_000

interface ChatSpec {
  jid: string
  /** Phone-number form of a LID chat. */
  pn: string | null
  group: boolean
}

export interface IngestWorkload {
  events: InboxEventInput[]
  /** Index of the chat each event belongs to (the baseline's hash). */
  chatOf: Int32Array
  chats: ChatSpec[]
  mix: { inbound: number; groupInbound: number; outbound: number; read: number; replay: number }
}

const TEXTS = [
  'Hi, is the blue one still available?',
  'Can you send me the invoice again please',
  'ok',
  'When will my order arrive? I paid on Monday and have not heard anything since.',
  'Thanks!',
  'Do you deliver to Porto?',
  '👍',
  'I would like to change the address of my order to the office, the ground floor reception.',
]

const pnJid = (n: number) => `49${String(1_000_000_000 + n)}@s.whatsapp.net`
const lidJid = (n: number) => `${String(100_000_000_000_000 + n)}@lid`
const groupJid = (n: number) => `120363${String(n).padStart(12, '0')}@g.us`

/** The same events for the same seed, run after run. */
export function ingestWorkload(
  seed: number,
  chatCount = INGEST_CHATS,
  eventCount = INGEST_EVENTS,
): IngestWorkload {
  const rand = rng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const chats: ChatSpec[] = []
  for (let i = 0; i < chatCount; i++) {
    const r = rand()
    if (r < GROUP_CHATS) chats.push({ jid: groupJid(i), pn: null, group: true })
    else if (r < GROUP_CHATS + LID_CHATS) chats.push({ jid: lidJid(i), pn: pnJid(i), group: false })
    else chats.push({ jid: pnJid(i), pn: null, group: false })
  }
  const events: InboxEventInput[] = []
  const chatOf = new Int32Array(eventCount)
  const messageEvents: number[] = []
  const mix = { inbound: 0, groupInbound: 0, outbound: 0, read: 0, replay: 0 }
  let introduced = 0
  // Early chats are busier, as in a real inbox where a few customers write a lot.
  const existingChat = () => Math.floor(introduced * rand() ** 1.5)

  for (let p = 0; p < eventCount; p++) {
    const ts = T0 + p * 5
    const id = `3EB0${p.toString(16).toUpperCase().padStart(16, '0')}`
    let r = rand()
    if (introduced === 0) r = 0
    let c: number
    let event: InboxEventInput
    if (r < SHARE_INBOUND) {
      c = introduced < chatCount && (rand() < 0.25 || introduced === 0) ? introduced++ : existingChat()
      const chat = chats[c]!
      if (chat.group) {
        const person = Math.floor(rand() * PEOPLE)
        const asLid = rand() < 0.3
        event = {
          type: 'message',
          sessionId: SESSION,
          key: {
            remoteJid: chat.jid,
            fromMe: false,
            id,
            participant: asLid ? lidJid(person) : pnJid(person),
          },
          ...(asLid ? { participantAlt: pnJid(person) } : {}),
          timestamp: ts,
          text: pick(TEXTS),
          pushName: `Member ${person}`,
          origin: 'customer',
          delivery: 'live',
        }
        mix.groupInbound++
      } else {
        event = {
          type: 'message',
          sessionId: SESSION,
          key: { remoteJid: chat.jid, fromMe: false, id },
          // Baileys 7 reports the phone form of a LID chat (remoteJidAlt); it is what joins the two forms.
          ...(chat.pn ? { chatJidAlt: chat.pn } : {}),
          timestamp: ts,
          text: pick(TEXTS),
          pushName: `Customer ${c}`,
          origin: 'customer',
          delivery: 'live',
        }
      }
      mix.inbound++
      messageEvents.push(p)
    } else if (r < SHARE_INBOUND + SHARE_OUTBOUND) {
      c = existingChat()
      const chat = chats[c]!
      // Replies sent from the phone may carry the phone-number form of a LID chat: still one chat.
      const jid = chat.pn && rand() < 0.5 ? chat.pn : chat.jid
      const o = rand()
      event = {
        type: 'message',
        sessionId: SESSION,
        key: { remoteJid: jid, fromMe: true, id },
        timestamp: ts,
        text: pick(TEXTS),
        origin: o < 0.5 ? 'phone' : o < 0.8 ? 'crm' : 'bot',
        delivery: 'live',
      }
      mix.outbound++
      messageEvents.push(p)
    } else if (r < SHARE_INBOUND + SHARE_OUTBOUND + SHARE_READ) {
      c = existingChat()
      event = { type: 'chat.read', sessionId: SESSION, chatJid: chats[c]!.jid, at: ts }
      mix.read++
    } else {
      const original = messageEvents[Math.floor(rand() * messageEvents.length)]!
      c = chatOf[original]!
      event = { ...(events[original] as Extract<InboxEventInput, { type: 'message' }>), delivery: 'backlog' }
      mix.replay++
    }
    events.push(event)
    chatOf[p] = c
  }
  if (introduced < chatCount) throw new Error(`workload only reached ${introduced} of ${chatCount} chats`)
  return { events, chatOf, chats, mix }
}

interface OursRun {
  eventsPerSec: number
  p50Ms: number
  p99Ms: number
  memoryPerChatBytes: number
  scriptCallsPerEvent: number
  redisCommandsPerEvent: number
  redisCpuUsPerEvent: number
}

interface BaselineRun {
  eventsPerSec: number
  redisCpuUsPerEvent: number
}

export interface IngestRun {
  ours: OursRun
  baseline: BaselineRun
}

const rules: IngestRules = {
  hasSession: () => true,
  defaultOwnerOf: () => 'u-bench',
  botRepliesCount: () => false,
}

async function serverCounters(
  redis: Redis,
): Promise<{ commands: number; scripts: number; cpuSeconds: number }> {
  const [stats, cpu, commandstats] = await Promise.all([
    redis.info('stats'),
    redis.info('cpu'),
    redis.info('commandstats'),
  ])
  const field = (info: string, name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  const calls = (cmd: string) =>
    Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(commandstats)?.[1] ?? 0)
  return {
    commands: field(stats, 'total_commands_processed'),
    scripts: calls('evalsha') + calls('eval'),
    cpuSeconds: field(cpu, 'used_cpu_user') + field(cpu, 'used_cpu_sys'),
  }
}

let cached: { seed: number; workload: IngestWorkload } | undefined

function workloadFor(seed: number): IngestWorkload {
  if (cached?.seed !== seed) cached = { seed, workload: ingestWorkload(seed) }
  return cached.workload
}

async function runOurs(ctx: BenchContext, w: IngestWorkload): Promise<OursRun> {
  const { redis, keys } = ctx
  const store = new InboxStore(redis, keys)
  const ingestor = new Ingestor({
    store,
    rules: () => rules,
    clock: systemClock,
    log: pino({ level: 'silent' }),
    metrics: createMetrics(),
  })
  // Warm-up on another session of the same prefix: loads the scripts and lets the JIT settle.
  await drive(WARMUP_EVENTS, CONCURRENCY, async (i) => {
    await ingestor.ingest({ ...w.events[i]!, sessionId: 'warmup' })
  })

  const n = w.events.length
  const latency = new Float64Array(n)
  let invalid = 0
  let duplicates = 0
  const memBefore = await usedMemory(redis)
  const before = await serverCounters(redis)
  const ms = await drive(n, CONCURRENCY, async (i) => {
    const t = performance.now()
    const r = await ingestor.ingest(w.events[i])
    latency[i] = performance.now() - t
    if (!r.ok) invalid++
    else if (r.transition?.duplicate) duplicates++
  })
  const after = await serverCounters(redis)
  const memAfter = await usedMemory(redis)

  // A benchmark that measured failures would be worthless: check the outcome before reporting.
  if (invalid > 0) throw new Error(`${invalid} generated events were rejected by validation`)
  if (duplicates !== w.mix.replay)
    throw new Error(`expected ${w.mix.replay} duplicates, ingest reported ${duplicates}`)
  const chats = await store.countChats(SESSION)
  if (chats !== w.chats.length)
    throw new Error(`expected ${w.chats.length} chats in the inbox, found ${chats}`)

  latency.sort()
  return {
    eventsPerSec: n / (ms / 1000),
    p50Ms: percentileSorted(latency, 50),
    p99Ms: percentileSorted(latency, 99),
    memoryPerChatBytes: (memAfter - memBefore) / w.chats.length,
    scriptCallsPerEvent: (after.scripts - before.scripts) / n,
    // Minus the INFO calls of serverCounters itself.
    redisCommandsPerEvent: (after.commands - before.commands - 3) / n,
    redisCpuUsPerEvent: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / n,
  }
}

async function runBaseline(ctx: BenchContext, w: IngestWorkload): Promise<BaselineRun> {
  const { redis, keys } = ctx
  const base = `${keys.session(SESSION)}baseline:`
  const field = (e: InboxEventInput) => (e.type === 'message' ? (e.key.fromMe ? 'out' : 'in') : e.type)
  await drive(WARMUP_EVENTS, CONCURRENCY, async (i) => {
    await redis.hincrby(`${base}warmup:${i % 100}`, 'n', 1)
  })
  const n = w.events.length
  const before = await serverCounters(redis)
  const ms = await drive(n, CONCURRENCY, async (i) => {
    await redis.hincrby(`${base}${w.chats[w.chatOf[i]!]!.jid}`, field(w.events[i]!), 1)
  })
  const after = await serverCounters(redis)
  return {
    eventsPerSec: n / (ms / 1000),
    redisCpuUsPerEvent: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / n,
  }
}

export const ingestBenchmark: Benchmark<IngestRun> = {
  name: 'ingest',
  description: `${INGEST_EVENTS} events over ${INGEST_CHATS} chats through validation + Lua state update, ${CONCURRENCY} in flight on one connection`,

  async runOnce(ctx) {
    const started = performance.now()
    const w = workloadFor(ctx.seed)
    ctx.progress(`workload ready in ${Math.round(performance.now() - started)} ms (${JSON.stringify(w.mix)})`)
    // Alternate the order so neither side always runs on a colder (or warmer) process.
    let ours: OursRun
    let baseline: BaselineRun
    if (ctx.run % 2 === 0) {
      ours = await runOurs(ctx, w)
      baseline = await runBaseline(ctx, w)
    } else {
      baseline = await runBaseline(ctx, w)
      ours = await runOurs(ctx, w)
    }
    ctx.progress(
      `ours ${Math.round(ours.eventsPerSec)} events/s (p50 ${ours.p50Ms.toFixed(2)} ms, p99 ${ours.p99Ms.toFixed(2)} ms), ` +
        `baseline ${Math.round(baseline.eventsPerSec)} events/s, ${Math.round(ours.memoryPerChatBytes)} B/chat`,
    )
    return { ours, baseline }
  },

  report(runs) {
    const w = cached!.workload
    const ours = runs.map((r) => r.ours)
    const baseline = runs.map((r) => r.baseline)
    return {
      description: this.description,
      runs: runs.length,
      events: w.events.length,
      chats: w.chats.length,
      concurrency: CONCURRENCY,
      seed: cached!.seed,
      mix: w.mix,
      ours: {
        eventsPerSec: figure(
          ours.map((r) => r.eventsPerSec),
          0,
        ),
        p50Ms: figure(
          ours.map((r) => r.p50Ms),
          3,
        ),
        p99Ms: figure(
          ours.map((r) => r.p99Ms),
          3,
        ),
        scriptCallsPerEvent: figure(
          ours.map((r) => r.scriptCallsPerEvent),
          2,
        ),
        redisCommandsPerEvent: figure(
          ours.map((r) => r.redisCommandsPerEvent),
          2,
        ),
        redisCpuUsPerEvent: figure(
          ours.map((r) => r.redisCpuUsPerEvent),
          1,
        ),
      },
      baseline: {
        what: 'one HINCRBY per event on a hash per chat, same concurrency, same connection',
        eventsPerSec: figure(
          baseline.map((r) => r.eventsPerSec),
          0,
        ),
        redisCpuUsPerEvent: figure(
          baseline.map((r) => r.redisCpuUsPerEvent),
          1,
        ),
      },
      /** ours/baseline events per second, computed within each run (both sides saw the same machine state). */
      ratio: figure(
        runs.map((r) => r.ours.eventsPerSec / r.baseline.eventsPerSec),
        3,
      ),
      memoryPerChatBytes: {
        ...figure(
          ours.map((r) => r.memoryPerChatBytes),
          0,
        ),
        note:
          'approximate: server-wide INFO used_memory after minus before the ingest run, divided by chats; ' +
          'includes indexes, the per-chat de-duplication window and contacts, and anything other clients did meanwhile',
      },
      notes: [
        'latency is per ingest call measured in the client with 64 calls in flight, so it includes queueing',
        'scriptCallsPerEvent counts Lua script calls (EVALSHA/EVAL), i.e. round-trips of ours per event; ' +
          'redisCommandsPerEvent also counts every command those scripts run inside Redis',
        'scriptCallsPerEvent, redisCommandsPerEvent and redisCpuUsPerEvent come from server-wide INFO counters: ' +
          'approximate when other clients are busy',
      ],
    }
  },
}
