import { randomBytes } from 'node:crypto'
import { setTimeout as abortableDelay } from 'node:timers/promises'
import type { Redis } from 'ioredis'

/**
 * One HubSpot request budget for every worker process, kept in Redis: a sliding window of request
 * times per kind (general calls, searches), timed by Redis's own clock. A caller asks for a slot before
 * each call. Jobs never sleep here for long: `acquire` takes a slot (waiting at most a second for the
 * rolling window) or throws `BudgetBusy` saying how long to wait, and the caller moves its work back to
 * delayed (a task job) or retries its batch later (the flusher). A pause is never waited for. So no job
 * is held active waiting for budget, and shutdown never waits on it.
 * A DAILY 429 pauses every call until the account's reset.
 *
 * A search counts against both windows (HubSpot counts every call); both slots are taken atomically,
 * or neither: a search waiting for its slot does not use up a general one.
 */
// KEYS: 1 general window, 2 paused-until, 3 search window. ARGV: 1 member, 2 number of windows (1 or 2),
// then window ms and max per window (general first). Returns {wait ms, paused 0/1}.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {paused - now, 1} end
local n = tonumber(ARGV[2])
local wait = 0
for i = 1, n do
  local key, window, max = KEYS[i == 1 and 1 or 3], tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= max then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now, 1)
  end
end
if wait > 0 then return {wait, 0} end
for i = 1, n do
  local key, window = KEYS[i == 1 and 1 or 3], tonumber(ARGV[1 + 2 * i])
  redis.call('ZADD', key, now, now .. '-' .. ARGV[1])
  redis.call('PEXPIRE', key, window * 2)
end
return {0, 0}
`

export interface BudgetLimits {
  /** General calls per rolling 10 s (HubSpot: 100, 190, or 250 with the capacity pack; default 90). */
  perTenSeconds: number
  /** Search calls per second (HubSpot: 5; default 4). */
  searchesPerSecond: number
  /** Length of the general window: HubSpot's is 10 s; tests shorten it to run fast. */
  windowMs?: number
}

export type CallKind = 'general' | 'search'

/** Longest a job waits for a slot of the window; anything longer moves the work back to delayed. */
export const ACQUIRE_MAX_WAIT_MS = 1000

/** No slot now: try again in `retryInMs`. `paused` = the daily limit (or a 429 back-off) holds every call. */
export class BudgetBusy extends Error {
  constructor(
    readonly retryInMs: number,
    readonly paused: boolean,
  ) {
    super(
      paused
        ? `HubSpot calls are paused for ${Math.ceil(retryInMs / 1000)} s`
        : `HubSpot request budget full for ${retryInMs} ms`,
    )
    this.name = 'BudgetBusy'
  }
}

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
    if (!('tbHubSpotTake2' in redis)) redis.defineCommand('tbHubSpotTake2', { numberOfKeys: 3, lua: TAKE })
  }

  /**
   * Takes a slot, waiting at most `maxWaitMs` for the rolling window (never for a pause), else throws
   * BudgetBusy. For jobs and the flusher: a full window costs them at most a moment, a pause nothing.
   */
  async acquire(kind: CallKind, maxWaitMs = ACQUIRE_MAX_WAIT_MS): Promise<void> {
    const deadline = Date.now() + maxWaitMs
    for (;;) {
      const [wait, paused] = await this.tryTakeDetailed(kind)
      if (wait === 0) return
      if (paused || Date.now() + wait > deadline) throw new BudgetBusy(wait, paused)
      await this.sleep(wait)
    }
  }

  /**
   * Waits until a slot is free (or the pause ends), then takes it. Only for start-up work outside any
   * job (property setup, the owners check), which `signal` can abort at shutdown.
   */
  async take(kind: CallKind, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted()
      const [wait] = await this.tryTakeDetailed(kind)
      if (wait === 0) return
      const ms = Math.min(wait, 5000)
      await (signal ? abortableSleep(ms, signal) : this.sleep(ms))
    }
  }

  /** 0 when a slot was taken, else how many ms until one may be free. */
  async tryTake(kind: CallKind): Promise<number> {
    return (await this.tryTakeDetailed(kind))[0]
  }

  private async tryTakeDetailed(kind: CallKind): Promise<[number, boolean]> {
    // A request admitted here reaches HubSpot a little later, and not all equally late: a slightly
    // wider window keeps HubSpot's own count (taken on arrival) within the limit.
    const guard = (window: number) => Math.round(window * 1.05) + 50
    const general = [guard(this.limits.windowMs ?? 10_000), this.limits.perTenSeconds]
    const search = [guard(1000), this.limits.searchesPerSecond]
    const windows = kind === 'search' ? [2, ...general, ...search] : [1, ...general]
    const take = (
      this.redis as Redis & { tbHubSpotTake2: (...a: Array<string | number>) => Promise<[number, number]> }
    ).tbHubSpotTake2
    const [wait, paused] = await take.call(
      this.redis,
      `${this.keyBase}:general`,
      `${this.keyBase}:paused-until`,
      `${this.keyBase}:search`,
      `${this.instance}-${this.seq++}`,
      ...windows,
    )
    return [Number(wait), Number(paused) === 1]
  }

  /** After a DAILY 429: no call until `until` (epoch ms, the account's reset). Also short 429 back-offs. */
  async pauseUntil(until: number): Promise<void> {
    const current = await this.pausedUntil()
    if (current && current >= until) return
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

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return abortableDelay(ms, undefined, { signal }).then(() => undefined)
}
