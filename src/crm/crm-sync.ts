import type { Redis } from 'ioredis'
import type { Clock } from '../clock.js'
import type { InboxEvent } from '../domain/events.js'
import type { ChatTransition } from '../inbox/chat.js'
import type { Keys } from '../keys.js'
import { LuaScripts } from '../lua.js'
import type { Rules } from '../rules/compile.js'
import { isFromHubSpot } from './origin.js'

/** Inbox changes that alter what a contact's WhatsApp properties show. */
const RELEVANT = new Set<InboxEvent['type']>([
  'message',
  'chat.noReplyNeeded',
  'chat.owner',
  'counters.reset',
  'lid.mapping',
])

/** How long a claimed batch may take before its chats are flushed again by someone else. */
const LEASE_MS = 60_000
/**
 * A claim also takes chats due within this long (the flusher's period): changes a few ms apart then
 * go out in one batch instead of one call each as they come due one by one.
 */
export const CLAIM_AHEAD_MS = 1000

/**
 * The CRM side's to-do list: chats whose contact properties must be written, each due once its debounce
 * window has passed. The first change opens the window; later changes inside it coalesce into the same
 * write, so a chatty conversation costs one update per window, not one per message.
 */
export class CrmDirtySet {
  private readonly lua: LuaScripts<'crm-claim'>

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly rules: () => Rules,
    private readonly clock: Clock,
  ) {
    this.lua = new LuaScripts(redis, {
      dir: new URL('./lua/', import.meta.url),
      scripts: { 'crm-claim': 2 },
      namespace: 'tbcrm',
    })
  }

  private get dirtyKey() {
    return this.keys.global('crm:dirty')
  }

  private get inflightKey() {
    return this.keys.global('crm:inflight')
  }

  private get ownerChangedKey() {
    return this.keys.global('crm:owner-changed')
  }

  private get rejectedKey() {
    return this.keys.global('crm:rejected')
  }

  /** Inbox listener (Ingestor.onApplied). */
  readonly onApplied = async (event: InboxEvent, t: ChatTransition | null): Promise<void> => {
    if (!t || !RELEVANT.has(event.type)) return
    // An owner Tickbridge set (API, SLA reassign) is written to HubSpot; one HubSpot set is not echoed.
    if (event.type === 'chat.owner') {
      const member = `${event.sessionId}|${t.jid}`
      if (isFromHubSpot()) await this.redis.srem(this.ownerChangedKey, member)
      else await this.redis.sadd(this.ownerChangedKey, member)
    }
    await this.mark(event.sessionId, t.jid)
  }

  /** Which of these chats had their owner changed by Tickbridge since the last write. */
  async ownerChanged(members: string[]): Promise<Set<string>> {
    if (members.length === 0) return new Set()
    const flags = await this.redis.smismember(this.ownerChangedKey, ...members)
    return new Set(members.filter((_, i) => flags[i] === 1))
  }

  async ownerWritten(members: string[]): Promise<void> {
    if (members.length) await this.redis.srem(this.ownerChangedKey, ...members)
  }

  /** A chat whose write HubSpot refused (a bad value): parked until the rules change. */
  async reject(member: string, reason: string): Promise<void> {
    await this.redis.hset(this.rejectedKey, member, reason)
    await this.done([member])
  }

  async rejected(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.rejectedKey)
  }

  /** After a rules change: every parked chat is tried again. */
  async retryRejected(): Promise<number> {
    const members = Object.keys(await this.rejected())
    if (members.length === 0) return 0
    await this.redis.hdel(this.rejectedKey, ...members)
    await this.soon(members, 0)
    return members.length
  }

  /** Due within `delayMs` even if already waiting longer (a backoff): LT moves only earlier. */
  async soon(members: string[], delayMs: number): Promise<void> {
    if (members.length === 0) return
    const due = this.clock.now() + delayMs
    await this.redis.zadd(this.dirtyKey, 'LT', ...members.flatMap((m) => [due, m]))
  }

  async mark(sid: string, chatJid: string, delayMs?: number): Promise<void> {
    const due = this.clock.now() + (delayMs ?? this.rules().config.counters.crmSync.debounce)
    // NX: an entry already waiting keeps its (earlier) due time: that is the debounce window.
    await this.redis.zadd(this.dirtyKey, 'NX', due, `${sid}|${chatJid}`)
  }

  async claim(max: number): Promise<Array<{ sessionId: string; chatJid: string; member: string }>> {
    const members = (await this.lua.run(
      'crm-claim',
      [this.dirtyKey, this.inflightKey],
      [this.clock.now(), max, LEASE_MS, CLAIM_AHEAD_MS],
    )) as string[]
    return members.map((member) => {
      const [sessionId, chatJid] = member.split('|') as [string, string]
      return { sessionId, chatJid, member }
    })
  }

  async done(members: string[]): Promise<void> {
    if (members.length) await this.redis.zrem(this.inflightKey, ...members)
  }

  /**
   * Puts claimed chats back, due no sooner than `delayMs` (a 429, a 5xx, a pause, no contact yet). A
   * change made meanwhile keeps its own (earlier) due time.
   */
  async retry(members: string[], delayMs: number): Promise<void> {
    if (members.length === 0) return
    // A claim may take entries up to CLAIM_AHEAD_MS early: a retry never comes sooner than asked.
    const due = this.clock.now() + delayMs + CLAIM_AHEAD_MS
    const multi = this.redis.multi()
    for (const m of members) multi.zadd(this.dirtyKey, 'NX', due, m)
    multi.zrem(this.inflightKey, ...members)
    await multi.exec()
  }

  async pending(): Promise<number> {
    const [a, b] = await Promise.all([this.redis.zcard(this.dirtyKey), this.redis.zcard(this.inflightKey)])
    return a + b
  }
}
