import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { type CounterResetJob, catalog, type JobProducer } from '../../jobs/catalog.js'
import type { Rules } from '../rules/compile.js'
import type { CounterReset } from '../rules/schema.js'

export interface ScheduleSyncResult {
  /** Rules whose scheduler was created or changed (cron or time zone). */
  upserted: string[]
  /** Schedulers removed because their rule is gone. */
  removed: string[]
  unchanged: string[]
}

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

/**
 * Keeps the `{counters}` queue's job schedulers equal to `counters.resets`: one scheduler per rule, with
 * the rule id as scheduler id, its cron as `pattern` and its time zone as `tz`. Runs at worker start and
 * after every rules reload.
 *
 * Idempotent: an unchanged rule is left alone (its next run stays where it is). Safe with several
 * workers: runs of this process are serialised, and runs across processes take a short Redis lock, so
 * two syncs never interleave; each BullMQ call is itself atomic. Since every worker syncs after each
 * reload, the last one to read the newest rules file leaves the schedulers matching it.
 */
export class ResetSchedules {
  #chain: Promise<unknown> = Promise.resolve()
  readonly #lockMs: number
  readonly #waitMs: number

  constructor(
    private readonly deps: {
      jobs: JobProducer
      redis: Redis
      /** Redis key of the cross-process lock. */
      lockKey: string
      log: Logger
      lockMs?: number
      waitMs?: number
    },
  ) {
    this.#lockMs = deps.lockMs ?? 15_000
    this.#waitMs = deps.waitMs ?? 20_000
  }

  sync(rules: Rules): Promise<ScheduleSyncResult> {
    const run = this.#chain.then(() => this.#locked(() => this.#syncNow(rules.config.counters.resets)))
    this.#chain = run.catch(() => undefined)
    return run
  }

  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    const { redis, lockKey, log } = this.deps
    const token = randomBytes(8).toString('hex')
    const deadline = Date.now() + this.#waitMs
    let held = false
    for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
      held = (await redis.set(lockKey, token, 'PX', this.#lockMs, 'NX')) === 'OK'
      if (held || Date.now() >= deadline) break
      await new Promise((r) => setTimeout(r, pause))
    }
    // Every step below is atomic on its own; going ahead unlocked beats leaving stale schedulers.
    if (!held) log.warn({ lockKey }, 'counter reset schedules: lock still held elsewhere; syncing anyway')
    try {
      return await fn()
    } finally {
      if (held) await redis.eval(RELEASE, 1, lockKey, token).catch(() => undefined)
    }
  }

  async #syncNow(resets: readonly CounterReset[]): Promise<ScheduleSyncResult> {
    const { jobs, log } = this.deps
    const queue = jobs.queueOf(catalog.counterReset)
    const result: ScheduleSyncResult = { upserted: [], removed: [], unchanged: [] }
    const wanted = new Map(resets.map((r) => [r.id, r]))
    const existing = new Map((await queue.getJobSchedulers(0, -1)).map((s) => [s.key, s]))
    for (const key of existing.keys()) {
      if (wanted.has(key)) continue
      await queue.removeJobScheduler(key)
      result.removed.push(key)
    }
    for (const rule of wanted.values()) {
      const current = existing.get(rule.id)
      const data = current?.template?.data as Partial<CounterResetJob> | undefined
      if (
        current &&
        current.name === catalog.counterReset.name &&
        current.pattern === rule.cron &&
        current.tz === rule.timeZone &&
        data?.ruleId === rule.id
      ) {
        result.unchanged.push(rule.id)
        continue
      }
      await jobs.schedule(
        catalog.counterReset,
        rule.id,
        { pattern: rule.cron, tz: rule.timeZone },
        { ruleId: rule.id },
        {},
      )
      result.upserted.push(rule.id)
    }
    if (result.upserted.length || result.removed.length) {
      log.info(
        { upserted: result.upserted, removed: result.removed, unchanged: result.unchanged.length },
        'counter reset schedules synced with the rules',
      )
    }
    return result
  }
}
