import type { Redis } from 'ioredis'
import type { Clock } from '../clock.js'
import type { InboxEvent } from '../domain/events.js'
import type { ChatTransition } from '../inbox/chat.js'
import type { Keys } from '../keys.js'
import { LuaScripts } from '../lua.js'
import type { Rules } from '../rules/compile.js'

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

  /** Inbox listener (Ingestor.onApplied). */
  readonly onApplied = async (event: InboxEvent, t: ChatTransition | null): Promise<void> => {
    if (t && RELEVANT.has(event.type)) await this.mark(event.sessionId, t.jid)
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
      [this.clock.now(), max, LEASE_MS],
    )) as string[]
    return members.map((member) => {
      const [sessionId, chatJid] = member.split('|') as [string, string]
      return { sessionId, chatJid, member }
    })
  }

  async done(members: string[]): Promise<void> {
    if (members.length) await this.redis.zrem(this.inflightKey, ...members)
  }

  /** Puts claimed chats back, due after `delayMs` (a 429, a 5xx, a pause). */
  async retry(members: string[], delayMs: number): Promise<void> {
    if (members.length === 0) return
    const due = this.clock.now() + delayMs
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
