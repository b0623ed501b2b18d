import type { Redis } from 'ioredis'
import { leaseEpochKey } from '../fence/fence.js'
import type { Keys } from '../keys.js'

/**
 * Session leases and the live-worker registry. Times come from Redis (TIME / PX), so processes on
 * machines with skewed clocks still agree. A lease is `holder|epoch`; the epoch grows with every new
 * holder (a fencing token: the holder's writes carry it and are refused once it is stale, see ../fence).
 */
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local holder, epoch = string.match(cur, '^(.*)|(%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(epoch)
  end
  -- Held by another: how long until it expires (at least 1 ms), negated, so a taker can try right then.
  return -math.max(1, redis.call('PTTL', KEYS[1]))
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
return epoch
`
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]) * 10)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')
`

/** A lease or heartbeat command that did not answer in time (Redis hung, e.g. stopped by SIGSTOP). */
export class LeaseCommandTimeoutError extends Error {
  constructor(command: string, ms: number) {
    super(`${command} got no answer from Redis within ${ms} ms`)
    this.name = 'LeaseCommandTimeoutError'
  }
}

/** Rejects after `ms` whatever the command does; its late outcome is ignored. */
function bounded<T>(command: string, ms: number, work: Promise<T>): Promise<T> {
  work.catch(() => {})
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LeaseCommandTimeoutError(command, ms)), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

type Scripted = Redis & {
  tbLeaseAcquire(lease: string, epoch: string, holder: string, ttl: number): Promise<number>
  tbLeaseRenew(lease: string, value: string, ttl: number): Promise<number>
  tbLeaseRelease(lease: string, value: string): Promise<number>
  tbWorkerHeartbeat(workers: string, id: string, ttl: number): Promise<string[]>
}

export class LeaseStore {
  private readonly r: Scripted

  /**
   * `commandTimeoutMs` bounds every lease and heartbeat command: a holder must learn that it cannot
   * renew long before its fencing deadline, however Redis fails (refused, or hung without an answer).
   */
  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly commandTimeoutMs = 1000,
  ) {
    if (!('tbLeaseAcquire' in redis)) {
      redis.defineCommand('tbLeaseAcquire', { numberOfKeys: 2, lua: ACQUIRE })
      redis.defineCommand('tbLeaseRenew', { numberOfKeys: 1, lua: RENEW })
      redis.defineCommand('tbLeaseRelease', { numberOfKeys: 1, lua: RELEASE })
      redis.defineCommand('tbWorkerHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT })
    }
    this.r = redis as Scripted
  }

  private leaseKey(sid: string): string {
    return `${this.keys.session(sid)}lease`
  }

  /**
   * Takes the lease if free (or already ours) and returns its epoch (> 0). When someone else holds it,
   * returns minus the milliseconds until that lease expires (< 0): the time a dead holder's session can
   * be taken.
   */
  acquire(sid: string, holder: string, ttlMs: number): Promise<number> {
    return bounded(
      'lease acquire',
      this.commandTimeoutMs,
      this.r.tbLeaseAcquire(this.leaseKey(sid), leaseEpochKey(this.keys, sid), holder, ttlMs),
    )
  }

  async renew(sid: string, holder: string, epoch: number, ttlMs: number): Promise<boolean> {
    const work = this.r.tbLeaseRenew(this.leaseKey(sid), `${holder}|${epoch}`, ttlMs)
    return (await bounded('lease renew', this.commandTimeoutMs, work)) === 1
  }

  async release(sid: string, holder: string, epoch: number): Promise<boolean> {
    const work = this.r.tbLeaseRelease(this.leaseKey(sid), `${holder}|${epoch}`)
    return (await bounded('lease release', this.commandTimeoutMs, work)) === 1
  }

  /** The current holder and epoch of a session's lease, if any. */
  async holderOf(sid: string): Promise<{ holder: string; epoch: number } | null> {
    const v = await this.r.get(this.leaseKey(sid))
    const m = v ? /^(.*)\|(\d+)$/.exec(v) : null
    return m ? { holder: m[1]!, epoch: Number(m[2]) } : null
  }

  /** Records this worker as alive and returns every worker seen alive within `ttlMs`. */
  heartbeat(workerId: string, ttlMs: number): Promise<string[]> {
    return bounded(
      'heartbeat',
      this.commandTimeoutMs,
      this.r.tbWorkerHeartbeat(this.keys.global('workers'), workerId, ttlMs),
    )
  }

  async leave(workerId: string): Promise<void> {
    await this.r.zrem(this.keys.global('workers'), workerId)
  }
}
