import type { Redis } from 'ioredis'
import type { Clock } from '../clock.js'
import type { Keys } from '../keys.js'

/** At most `max` stanzas per `per` ms, with bursts up to `max`. */
export interface SendRate {
  max: number
  per: number
}

/**
 * Where a session's send tokens live. `take` spends `cost` tokens if the bucket holds at least
 * min(cost, max) (a batch larger than the bucket goes into debt instead of waiting forever) and
 * answers 0, or answers how long to wait before asking again.
 */
export interface TokenStore {
  take(cost: number, rate: SendRate): Promise<number>
}

/** Tokens in this process only (tests; a restart starts with a full bucket). */
export class MemoryTokenStore implements TokenStore {
  private tokens: number | undefined
  private last = 0

  constructor(private readonly clock: Clock) {}

  async take(cost: number, rate: SendRate): Promise<number> {
    const now = this.clock.now()
    const refilled =
      this.tokens === undefined
        ? rate.max
        : Math.min(rate.max, this.tokens + (Math.max(0, now - this.last) * rate.max) / rate.per)
    this.last = now
    const need = Math.min(cost, rate.max)
    if (refilled >= need) {
      this.tokens = refilled - cost
      return 0
    }
    this.tokens = refilled
    return Math.max(1, Math.ceil(((need - refilled) * rate.per) / rate.max))
  }
}

// Same bucket as MemoryTokenStore, in one hash per session, timed by Redis' own clock (TIME) so
// processes with skewed clocks share it. KEYS[1] bucket. ARGV: 1 max, 2 per ms, 3 cost.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max, per, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(v[1]), tonumber(v[2])
if not tokens or not ts then tokens = max; ts = now end
tokens = math.min(max, tokens + math.max(0, now - ts) * max / per)
local need = math.min(cost, max)
local wait = 0
if tokens >= need then tokens = tokens - cost else wait = math.ceil((need - tokens) * per / max) end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', now)
-- Gone once it would be full again anyway (a debt takes longer to refill).
redis.call('PEXPIRE', KEYS[1], math.ceil(per * (1 + math.max(0, -tokens) / max)) + 1000)
return wait
`

type Scripted = Redis & { tbSendTake(key: string, max: number, per: number, cost: number): Promise<number> }

/**
 * A session's send tokens in Redis: a restarted worker (or the next holder after a failover) goes on
 * with what was left instead of starting with a full burst.
 */
export class RedisTokenStore implements TokenStore {
  private readonly r: Scripted

  constructor(
    redis: Redis,
    private readonly key: string,
  ) {
    if (!('tbSendTake' in redis)) redis.defineCommand('tbSendTake', { numberOfKeys: 1, lua: TAKE })
    this.r = redis as Scripted
  }

  take(cost: number, rate: SendRate): Promise<number> {
    return this.r.tbSendTake(this.key, rate.max, rate.per, cost)
  }
}

export const sendBucketKey = (keys: Keys, sid: string): string => `${keys.session(sid)}send-bucket`
