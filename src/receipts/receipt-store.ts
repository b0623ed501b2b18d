import type { Redis } from 'ioredis'
import type { MessageKey } from '../domain/events.js'
import type { Keys } from '../keys.js'
import { LuaScripts } from '../lua.js'

/** A message waiting for its read receipt, as remembered in Redis. */
export interface PendingEntry {
  key: MessageKey
  /** WhatsApp's timestamp of the message. */
  timestamp: number
  /** When we received it: the start of its "time to view". */
  arrivedAt: number
  /** Enough to plan a reading delay; the text itself is not kept. */
  words?: number
  media?: boolean
}

export type EnqueueResult =
  | { kind: 'duplicate' }
  | { kind: 'remembered' }
  | { kind: 'new'; gen: number; dueAt: number }
  | { kind: 'moved'; gen: number; dueAt: number }
  /** Already in the scheduled batch: a redelivered message, whose first delivery may have died before the job was added. */
  | { kind: 'scheduled'; gen: number; dueAt: number }

const SCRIPTS = {
  'seen-enqueue': 4,
  'seen-schedule': 3,
  'seen-claim': 3,
  'seen-done': 4,
  'seen-cancel': 3,
} as const

/**
 * Read receipts per chat, changed only through the atomic scripts in ./lua. A chat has `pending`
 * messages (remembered for when the API asks, manual policy) and a `batch` (in the next receipt, with a
 * generation and a due time in `meta`), plus the recently `sent` ids.
 */
export class ReceiptStore {
  private readonly lua: LuaScripts<keyof typeof SCRIPTS>

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    this.lua = new LuaScripts(redis, {
      dir: new URL('./lua/', import.meta.url),
      scripts: SCRIPTS,
      namespace: 'tbseen',
    })
  }

  private k(sid: string, chat: string) {
    const { keys } = this
    return {
      pending: keys.seenPending(sid, chat),
      batch: keys.seenBatch(sid, chat),
      meta: keys.seenMeta(sid, chat),
      sent: keys.seenSent(sid, chat),
    }
  }

  async enqueue(
    sid: string,
    chat: string,
    entry: PendingEntry,
    plan: { now: number; firstDelayMs: number; extendMs: number; maxMs: number; schedule: boolean },
  ): Promise<EnqueueResult> {
    const k = this.k(sid, chat)
    const r = (await this.lua.run(
      'seen-enqueue',
      [k.pending, k.batch, k.meta, k.sent],
      [
        entry.key.id,
        JSON.stringify(entry),
        plan.now,
        plan.firstDelayMs,
        plan.extendMs,
        plan.maxMs,
        plan.schedule ? '1' : '0',
      ],
    )) as number[]
    return toResult(r)
  }

  /**
   * Puts remembered messages (the given ids, or all) into the batch and makes it due no later than
   * now + delay; null when there is nothing to receipt.
   */
  async scheduleWithin(
    sid: string,
    chat: string,
    plan: { now: number; delayMs: number; maxMs: number; ids?: string[] },
  ): Promise<EnqueueResult | null> {
    const k = this.k(sid, chat)
    const r = (await this.lua.run(
      'seen-schedule',
      [k.pending, k.batch, k.meta],
      [plan.now, plan.delayMs, plan.maxMs, ...(plan.ids ?? [])],
    )) as number[]
    return r[0] === 0 ? null : toResult(r)
  }

  /**
   * Takes the batch for its receipt job: every entry not yet receipted and the planned due time; or
   * `laterAt` when the due time has moved past `now` since the job was promoted (it must wait).
   */
  async claim(
    sid: string,
    chat: string,
    gen: number,
    now: number,
  ): Promise<{ laterAt: number } | { dueAt: number | null; entries: PendingEntry[] }> {
    const k = this.k(sid, chat)
    const [first, ...raw] = (await this.lua.run(
      'seen-claim',
      [k.batch, k.meta, k.sent],
      [gen, now],
    )) as string[]
    if (first === 'later') return { laterAt: Number(raw[0]) }
    return { dueAt: first ? Number(first) : null, entries: parseEntries(raw) }
  }

  async done(sid: string, chat: string, ids: string[], now: number): Promise<void> {
    if (ids.length === 0) return
    const k = this.k(sid, chat)
    await this.lua.run('seen-done', [k.batch, k.pending, k.sent, k.meta], [now, ...ids])
  }

  /**
   * Drops what waits for a receipt up to `upTo` (the chat was read elsewhere then; later messages stay);
   * returns the generation whose job to remove when nothing is left in the batch.
   */
  async cancel(sid: string, chat: string, upTo: number = Number.MAX_SAFE_INTEGER): Promise<number | null> {
    const k = this.k(sid, chat)
    const gen = await this.lua.run('seen-cancel', [k.pending, k.batch, k.meta], [upTo])
    return gen ? Number(gen) : null
  }

  /** Every message of the chat still waiting for its receipt (remembered or batched), oldest first. */
  async pending(sid: string, chat: string): Promise<PendingEntry[]> {
    const k = this.k(sid, chat)
    const [a, b] = await Promise.all([this.redis.hvals(k.pending), this.redis.hvals(k.batch)])
    return parseEntries([...a, ...b])
  }

  /** Remembers a message the API names but we never saw arrive (it predates us, or came elsewhere). */
  async remember(sid: string, chat: string, entry: PendingEntry): Promise<void> {
    await this.redis.hsetnx(this.k(sid, chat).pending, entry.key.id, JSON.stringify(entry))
  }

  /** The current batch's due time, if one is scheduled. */
  async dueAt(sid: string, chat: string): Promise<number | null> {
    const [scheduled, due] = await this.redis.hmget(this.k(sid, chat).meta, 'scheduled', 'due')
    return scheduled === '1' && due ? Number(due) : null
  }
}

function parseEntries(raw: string[]): PendingEntry[] {
  return raw.map((j) => JSON.parse(j) as PendingEntry).sort((a, b) => a.timestamp - b.timestamp)
}

function toResult(r: number[]): EnqueueResult {
  switch (r[0]) {
    case 0:
      return { kind: 'duplicate' }
    case 3:
      return { kind: 'remembered' }
    case 1:
      return { kind: 'new', gen: r[1]!, dueAt: r[2]! }
    case 4:
      return { kind: 'scheduled', gen: r[1]!, dueAt: r[2]! }
    default:
      return { kind: 'moved', gen: r[1]!, dueAt: r[2]! }
  }
}
