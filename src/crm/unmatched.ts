import type { Redis } from 'ioredis'
import type { Clock } from '../clock.js'
import type { Keys } from '../keys.js'

export interface UnmatchedChat {
  sessionId: string
  chatJid: string
  org: string
  /** E.164 digits (no +). */
  phone: string
  /** First time no contact matched. */
  since: number
  attempts: number
  lastTriedAt: number
  nextTryAt: number
}

/** First retry soon (search lags writes by seconds), then doubling, at most hourly. */
export function unmatchedBackoffMs(attempts: number): number {
  return Math.min(15_000 * 2 ** Math.max(0, attempts - 1), 3600_000)
}

/**
 * Chats whose number matches no HubSpot contact yet. They stay pending (retried with backoff, and at
 * once when HubSpot says a contact was created or renumbered), and an admin sees them in
 * `GET /v1/crm/unmatched` to fix or create the contacts.
 */
export class UnmatchedChats {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly clock: Clock,
  ) {}

  private get key() {
    return this.keys.global('crm:unmatched')
  }

  /** Records one more miss; returns when to try again. */
  async missed(
    member: string,
    entry: Omit<UnmatchedChat, 'since' | 'attempts' | 'lastTriedAt' | 'nextTryAt'>,
  ) {
    const now = this.clock.now()
    const prev = await this.get(member)
    const attempts = (prev?.attempts ?? 0) + 1
    const delay = unmatchedBackoffMs(attempts)
    const next: UnmatchedChat = {
      ...entry,
      since: prev?.since ?? now,
      attempts,
      lastTriedAt: now,
      nextTryAt: now + delay,
    }
    await this.redis.hset(this.key, member, JSON.stringify(next))
    return { delayMs: delay, entry: next }
  }

  async matched(members: string[]): Promise<void> {
    if (members.length) await this.redis.hdel(this.key, ...members)
  }

  /** Which of these chats are waiting for a contact (their flush is a retry). */
  async which(members: string[]): Promise<Set<string>> {
    if (members.length === 0) return new Set()
    const flags = await this.redis.hmget(this.key, ...members)
    return new Set(members.filter((_, i) => flags[i] !== null))
  }

  async get(member: string): Promise<UnmatchedChat | null> {
    const raw = await this.redis.hget(this.key, member)
    return raw ? (JSON.parse(raw) as UnmatchedChat) : null
  }

  async all(): Promise<Array<UnmatchedChat & { member: string }>> {
    const all = await this.redis.hgetall(this.key)
    return Object.entries(all)
      .map(([member, raw]) => ({ member, ...(JSON.parse(raw) as UnmatchedChat) }))
      .sort((a, b) => a.since - b.since || a.member.localeCompare(b.member))
  }

  async count(): Promise<number> {
    return this.redis.hlen(this.key)
  }
}
