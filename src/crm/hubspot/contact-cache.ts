import type { Redis } from 'ioredis'
import type { Clock } from '../../clock.js'
import type { Keys } from '../../keys.js'

export const HIT_TTL_MS = 24 * 3600_000
export const MISS_TTL_MS = 10 * 60_000

/**
 * phone -> contact cache with an expiry per entry (the value carries its own expiry time, so traffic on
 * other numbers never keeps a stale entry alive, as one TTL on the whole hash did), misses cached
 * briefly, and a reverse index contact -> phones so HubSpot's creation, phone-change, merge and
 * deletion webhooks can drop exactly what they invalidate.
 */
export class ContactCache {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly clock: Clock,
  ) {}

  private get hits() {
    return this.keys.global('crm:phone-contact')
  }
  private get misses() {
    return this.keys.global('crm:phone-miss')
  }
  private phonesOf(contactId: string) {
    return this.keys.global(`crm:contact-phones:${contactId}`)
  }

  /** For each phone: a contact id, `null` (a recent miss) or `undefined` (unknown: look it up). */
  async get(phones: string[]): Promise<Map<string, string | null | undefined>> {
    const out = new Map<string, string | null | undefined>()
    if (phones.length === 0) return out
    const now = this.clock.now()
    const [hits, misses] = await Promise.all([
      this.redis.hmget(this.hits, ...phones),
      this.redis.hmget(this.misses, ...phones),
    ])
    const stale: string[] = []
    for (const [i, phone] of phones.entries()) {
      const hit = parse(hits[i])
      if (hit && hit.until > now) {
        out.set(phone, hit.value)
        continue
      }
      if (hit) stale.push(phone)
      const miss = parse(misses[i])
      out.set(phone, miss && miss.until > now ? null : undefined)
    }
    if (stale.length) await this.redis.hdel(this.hits, ...stale)
    return out
  }

  async remember(entries: Array<[phone: string, contactId: string]>): Promise<void> {
    if (entries.length === 0) return
    const until = this.clock.now() + HIT_TTL_MS
    const multi = this.redis.multi()
    multi.hset(this.hits, ...entries.flatMap(([p, id]) => [p, `${until}|${id}`]))
    multi.hdel(this.misses, ...entries.map(([p]) => p))
    for (const [p, id] of entries) {
      multi.sadd(this.phonesOf(id), p)
      multi.pexpire(this.phonesOf(id), HIT_TTL_MS)
    }
    await multi.exec()
  }

  async rememberMisses(phones: string[]): Promise<void> {
    if (phones.length === 0) return
    const until = this.clock.now() + MISS_TTL_MS
    await this.redis.hset(this.misses, ...phones.flatMap((p) => [p, `${until}|`]))
  }

  /** A contact deleted, merged or renumbered: its phones are looked up again. */
  async forgetContact(contactId: string): Promise<string[]> {
    const phones = await this.redis.smembers(this.phonesOf(contactId))
    const multi = this.redis.multi()
    if (phones.length) multi.hdel(this.hits, ...phones)
    multi.del(this.phonesOf(contactId))
    await multi.exec()
    return phones
  }

  /** A contact was created or got a new number: any miss may now be a hit. */
  async forgetMisses(): Promise<void> {
    await this.redis.del(this.misses)
  }
}

function parse(v: string | null | undefined): { until: number; value: string } | null {
  if (!v) return null
  const bar = v.indexOf('|')
  return { until: Number(v.slice(0, bar)), value: v.slice(bar + 1) }
}
