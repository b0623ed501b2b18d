import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'

/**
 * One HubSpot request budget for every worker process, kept in Redis: a sliding window of request
 * times per kind (general calls, searches), timed by Redis's own clock. A process asks for a slot
 * before each call and waits when the window is full, so the account's limits are never exceeded.
 * A DAILY 429 pauses every call until the account's midnight.
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return paused - now end
local window, max = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now, now .. '-' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
`

export interface BudgetLimits {
  /** General calls per rolling 10 s (HubSpot: 100 or 190; default 90 leaves headroom). */
  perTenSeconds: number
  /** Search calls per second (HubSpot: 5; default 4). */
  searchesPerSecond: number
  /** Length of the general window: HubSpot's is 10 s; tests shorten it to run fast. */
  windowMs?: number
}

export type CallKind = 'general' | 'search'

export class HubSpotBudget {
  private seq = 0
  /** Makes each slot's member unique across processes and across budgets in one process. */
  private readonly instance = randomBytes(6).toString('hex')

  constructor(
    private readonly redis: Redis,
    private readonly keyBase: string,
    private readonly limits: BudgetLimits,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    if (!('tbHubSpotTake' in redis)) redis.defineCommand('tbHubSpotTake', { numberOfKeys: 2, lua: TAKE })
  }

  /** Waits until a slot is free (or the pause ends), then takes it. */
  async take(kind: CallKind): Promise<void> {
    for (;;) {
      const wait = await this.tryTake(kind)
      if (wait === 0) return
      await this.sleep(Math.min(wait, 5000))
    }
  }

  /** 0 when a slot was taken, else how many ms until one may be free. */
  async tryTake(kind: CallKind): Promise<number> {
    const [window, max] =
      kind === 'search'
        ? [1000, this.limits.searchesPerSecond]
        : [this.limits.windowMs ?? 10_000, this.limits.perTenSeconds]
    // A request admitted here reaches HubSpot a little later, and not all equally late: a slightly
    // wider window keeps HubSpot's own count (taken on arrival) within the limit.
    const guarded = Math.round(window * 1.05) + 50
    // Searches also count against the general budget: HubSpot counts every call. (When the search
    // window is full the general slot just taken goes unused: the budget errs on the safe side.)
    if (kind === 'search') {
      const general = await this.tryTake('general')
      if (general > 0) return general
    }
    const take = (this.redis as Redis & { tbHubSpotTake: (...a: Array<string | number>) => Promise<number> })
      .tbHubSpotTake
    return take.call(
      this.redis,
      `${this.keyBase}:${kind}`,
      `${this.keyBase}:paused-until`,
      guarded,
      max,
      `${this.instance}-${this.seq++}`,
    )
  }

  /** After a DAILY 429: no call until `until` (epoch ms, the account's next midnight). */
  async pauseUntil(until: number): Promise<void> {
    await this.redis.set(
      `${this.keyBase}:paused-until`,
      String(until),
      'PX',
      Math.max(1000, until - Date.now() + 1000),
    )
  }

  async pausedUntil(): Promise<number | null> {
    const v = await this.redis.get(`${this.keyBase}:paused-until`)
    return v ? Number(v) : null
  }
}
