import type { Redis } from 'ioredis'

/** One atomic step of a fixed-window counter: count this hit, start the window on the first one. */
const LUA = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { n, redis.call('PTTL', KEYS[1]) }
`

export interface RateDecision {
  allowed: boolean
  remaining: number
  retryAfterMs: number
}

/**
 * A per-API-key request budget kept in Redis, so every web process shares it. Fixed windows: cheap
 * (one round-trip) and exact per window; a burst at a window edge can reach twice the rate briefly.
 */
export class RedisRateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {
    if (!('tbRateHit' in redis)) redis.defineCommand('tbRateHit', { numberOfKeys: 1, lua: LUA })
  }

  async hit(id: string, limit: { max: number; per: number }, now = Date.now()): Promise<RateDecision> {
    const window = Math.floor(now / limit.per)
    const key = `${this.keyPrefix}:${id}:${limit.per}:${window}`
    const untilWindowEnd = limit.per - (now % limit.per)
    const hit = (this.redis as unknown as { tbRateHit: (k: string, ms: number) => Promise<[number, number]> })
      .tbRateHit
    const [count, ttl] = await hit.call(this.redis, key, untilWindowEnd)
    const retryAfterMs = ttl > 0 ? ttl : untilWindowEnd
    return { allowed: count <= limit.max, remaining: Math.max(0, limit.max - count), retryAfterMs }
  }
}
