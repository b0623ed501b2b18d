import type { Redis } from 'ioredis'
import type { Keys } from '../keys.js'
import { LuaScripts } from '../lua.js'
import type { SlaState } from '../rules/schema.js'
import type { PeriodKind, PlannedLevel } from './policy.js'

export interface SlaClock {
  sessionId: string
  chatJid: string
  policyId: string
  waitSeq: number
  waitingSince: number
  kind: PeriodKind
  deadline: number
  levels: PlannedLevel[]
  state: SlaState
}

export type ClaimResult = 'claimed' | 'resume' | 'done' | 'stale'

export interface SlaEvent {
  id: string
  sessionId: string
  chatJid: string
  policyId: string
  level: number
  waitSeq: number
  kind: PeriodKind
  waitingSince: number
  dueAt: number
  deadline: number
  firedAt: number
  actions: Array<{ action: string; outcome: string; ok: boolean }>
}

const EVENTS_KEEP = 100_000

/**
 * The planned levels as `level:ms after waitingSince`, comma-separated ("0:3600000,1:7200000"): short
 * enough that the clock's hash keeps Redis' compact listpack encoding (every value within
 * `hash-max-listpack-value`, 64 bytes), where the JSON form made it a hash table of twice the size.
 */
export function encodeLevels(levels: readonly PlannedLevel[], waitingSince: number): string {
  return levels.map((l) => `${l.level}:${l.dueAt - waitingSince}`).join(',')
}

/** Reads both forms: the compact one, and the JSON that clocks opened before it carry. */
export function decodeLevels(v: string, waitingSince: number): PlannedLevel[] {
  if (v.startsWith('[')) return JSON.parse(v) as PlannedLevel[]
  if (v === '') return []
  return v.split(',').map((part) => {
    const [level, offset] = part.split(':')
    return { level: Number(level), dueAt: waitingSince + Number(offset) }
  })
}

/** Open SLA clocks, fired levels and the breach log, in Redis. */
export class SlaStore {
  private readonly lua: LuaScripts<'sla-claim'>

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    /** Told after each firing is logged (the console's live breach feed); must not throw. */
    private readonly onLogged: (sessionId: string) => void = () => {},
  ) {
    this.lua = new LuaScripts(redis, {
      dir: new URL('./lua/', import.meta.url),
      scripts: { 'sla-claim': 3 },
      namespace: 'tbsla',
    })
  }

  async get(sid: string, chat: string): Promise<SlaClock | null> {
    const h = await this.redis.hgetall(this.keys.slaClock(sid, chat))
    if (!h.policyId) return null
    return {
      sessionId: sid,
      chatJid: chat,
      policyId: h.policyId,
      waitSeq: Number(h.waitSeq),
      waitingSince: Number(h.waitingSince),
      kind: h.kind as PeriodKind,
      deadline: Number(h.deadline),
      levels: decodeLevels(h.levels ?? '', Number(h.waitingSince)),
      state: (h.state ?? 'ok') as SlaState,
    }
  }

  async open(c: SlaClock): Promise<void> {
    const key = this.keys.slaClock(c.sessionId, c.chatJid)
    await this.redis
      .multi()
      .del(key)
      .hset(key, {
        policyId: c.policyId,
        waitSeq: c.waitSeq,
        waitingSince: c.waitingSince,
        kind: c.kind,
        deadline: c.deadline,
        levels: encodeLevels(c.levels, c.waitingSince),
        state: c.state,
      })
      .zadd(this.keys.slaOpen(c.sessionId), c.waitingSince, c.chatJid)
      .exec()
  }

  async close(sid: string, chat: string): Promise<void> {
    // No transaction needed: a half-closed clock (record gone, still in the open index) is finished by
    // the re-planner when it meets it.
    await Promise.all([
      this.redis.del(this.keys.slaClock(sid, chat), this.keys.slaFired(sid, chat)),
      this.redis.zrem(this.keys.slaOpen(sid), chat),
    ])
  }

  async setState(sid: string, chat: string, state: SlaState): Promise<void> {
    await this.redis.hset(this.keys.slaClock(sid, chat), 'state', state)
  }

  async openChats(sid: string): Promise<string[]> {
    return this.redis.zrange(this.keys.slaOpen(sid), 0, -1)
  }

  /** Atomically decides whether a level's timer may act (see lua/sla-claim.lua). */
  async claim(sid: string, chat: string, waitSeq: number, level: number, now: number): Promise<ClaimResult> {
    const r = (await this.lua.run(
      'sla-claim',
      [this.keys.chat(sid, chat), this.keys.slaClock(sid, chat), this.keys.slaFired(sid, chat)],
      [waitSeq, level, now],
    )) as number
    return r === 1 ? 'claimed' : r === 3 ? 'resume' : r === 2 ? 'done' : 'stale'
  }

  async markDone(sid: string, chat: string, waitSeq: number, level: number): Promise<void> {
    await this.redis.hset(this.keys.slaFired(sid, chat), `${waitSeq}:${level}`, 'done')
  }

  async firedLevels(sid: string, chat: string, waitSeq: number): Promise<Set<number>> {
    const fields = await this.redis.hkeys(this.keys.slaFired(sid, chat))
    return new Set(fields.filter((f) => f.startsWith(`${waitSeq}:`)).map((f) => Number(f.split(':')[1])))
  }

  /** Appends a firing to the org's breach log; returns its id (a cursor). */
  async log(org: string, e: Omit<SlaEvent, 'id'>): Promise<string> {
    const id = (await this.redis.xadd(
      this.keys.org(org, 'sla-events'),
      'MAXLEN',
      '~',
      EVENTS_KEEP,
      '*',
      'e',
      JSON.stringify(e),
    )) as string
    this.onLogged(e.sessionId)
    return id
  }

  /** The org's breach log from `since` (ms), oldest first, optionally one session's only. */
  async events(
    org: string,
    q: { since?: number; sessionId?: string; after?: string; limit: number },
  ): Promise<{ items: SlaEvent[]; next: string | null }> {
    const key = this.keys.org(org, 'sla-events')
    let start = q.after ? `(${q.after}` : q.since !== undefined ? `${q.since}-0` : '-'
    const items: SlaEvent[] = []
    for (;;) {
      const rows = await this.redis.xrange(key, start, '+', 'COUNT', Math.max(q.limit * 2, 100))
      for (const [id, fields] of rows) {
        const e = { id, ...(JSON.parse(fields[1]!) as Omit<SlaEvent, 'id'>) }
        start = `(${id}`
        if (q.sessionId && e.sessionId !== q.sessionId) continue
        items.push(e)
        if (items.length === q.limit) return { items, next: id }
      }
      if (rows.length === 0) return { items, next: null }
    }
  }
}
