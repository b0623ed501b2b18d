import { createRedisBackend, type IQueueBackend, type QueueBaseOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'

/** What BullMQ's `waitForJob` answers: the marker popped (its score: 0, or a delayed job's due ms). */
type Marker = { member: string; score: number } | null

interface Waiter {
  deadline: number
  resolve(marker: Marker): void
  reject(err: unknown): void
}

/** A blocking command that got no answer this long past its own timeout is taken as lost (see below). */
const WATCHDOG_MS = 1000
/** CLIENT UNBLOCK tries (2 ms apart) while the BZPOPMIN to interrupt has not reached Redis yet. */
const UNBLOCK_RETRIES = 50

/**
 * One blocking Redis connection per process for every session queue's BullMQ Worker.
 *
 * A BullMQ Worker opens a connection of its own for a single purpose: `BZPOPMIN` on its queue's marker
 * key, which wakes it when a job is added or a delayed one is due (bullmq classes/redis-queue-backend.js,
 * `waitForJob`). With a queue per WhatsApp session, that is one idle connection per held session: 300
 * sessions, 300 connections. `BZPOPMIN` takes many keys, so this class waits for all of them on one:
 * each Worker's `waitForJob` registers its marker key here, one `BZPOPMIN k1 … kn` waits until the
 * soonest deadline, and the key that fires wakes its Worker with the same answer BullMQ's own wait
 * gives. A key registered while the command is blocked interrupts it (`CLIENT UNBLOCK … TIMEOUT`, from
 * the shared connection), so the next command includes it.
 *
 * Single Redis only: a Cluster refuses keys of different slots in one command, so there each Worker keeps
 * BullMQ's own connection (see `sessionWorkerBackend`).
 */
export class MarkerWaits {
  private readonly waiters = new Map<string, Waiter>()
  private closed = false
  /** The keys and the deadline of the BZPOPMIN under way; `round` counts them. */
  private blocked: { keys: Set<string>; deadline: number } | null = null
  private round = 0
  private clientId: number | undefined
  private idStale = true
  private wake: (() => void) | undefined
  private unblocking = false
  private readonly running: Promise<void>

  constructor(
    /** A connection of its own (it blocks); closed with this. */
    private readonly blocking: Redis,
    /** Any non-blocking connection, for CLIENT UNBLOCK. */
    private readonly control: Redis,
    private readonly log: Logger,
  ) {
    // A reconnect gives the connection a new id: it is asked again before the next BZPOPMIN.
    blocking.on('ready', () => {
      this.idStale = true
    })
    this.running = this.loop()
  }

  /** BullMQ's `waitForJob(blockTimeout)` for one queue: the marker popped, or null after the timeout. */
  wait(markerKey: string, timeoutSeconds: number): Promise<Marker> {
    if (this.closed) return Promise.resolve(null)
    // One Worker per key, and a Worker waits once at a time; a stale waiter is answered "nothing".
    this.waiters.get(markerKey)?.resolve(null)
    return new Promise<Marker>((resolve, reject) => {
      this.waiters.set(markerKey, { deadline: Date.now() + timeoutSeconds * 1000, resolve, reject })
      if (this.outdated()) this.interrupt()
      this.wake?.()
    })
  }

  /** A Worker closing: its wait ends now with "nothing". */
  cancel(markerKey: string): void {
    const w = this.waiters.get(markerKey)
    this.waiters.delete(markerKey)
    w?.resolve(null)
  }

  async close(): Promise<void> {
    this.closed = true
    for (const key of [...this.waiters.keys()]) this.cancel(key)
    this.wake?.()
    this.blocking.disconnect()
    await this.running
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      const now = Date.now()
      for (const [key, w] of this.waiters) {
        if (w.deadline <= now) {
          this.waiters.delete(key)
          w.resolve(null)
        }
      }
      if (this.waiters.size === 0) {
        await new Promise<void>((r) => {
          this.wake = r
        })
        this.wake = undefined
        continue
      }
      let popped: [string, string, string] | null
      try {
        if (this.idStale) {
          // Before the keys are taken: a key registered meanwhile is then in this round's command.
          this.idStale = false
          this.clientId = Number(await this.blocking.client('ID'))
          continue
        }
        const keys = [...this.waiters.keys()]
        const deadline = Math.min(...[...this.waiters.values()].map((w) => w.deadline))
        const seconds = Math.max(0.01, (deadline - Date.now()) / 1000)
        this.blocked = { keys: new Set(keys), deadline }
        this.round++
        popped = await this.bzpopmin(keys, seconds)
      } catch (err) {
        this.blocked = null
        if (this.closed) break
        // Redis away: every waiter hears it, as from BullMQ's own wait, and its Worker backs off.
        for (const [key, w] of [...this.waiters]) {
          this.waiters.delete(key)
          w.reject(err)
        }
        continue
      }
      this.blocked = null
      if (!popped) continue
      const [key, member, score] = popped
      const w = this.waiters.get(key)
      if (w) {
        this.waiters.delete(key)
        w.resolve({ member, score: Number.parseInt(score, 10) })
      } else {
        // Its Worker stopped waiting meanwhile (closed): the marker goes back for whoever waits next.
        await this.control.zadd(key, score, member).catch(() => {})
      }
    }
  }

  /**
   * BZPOPMIN raced against a watchdog: ioredis re-sends a blocking command interrupted by a reconnect
   * instead of failing it, which can leave it pending forever (BullMQ guards its own wait the same way,
   * issue #4479). A lost command is abandoned by reconnecting the connection.
   */
  private async bzpopmin(keys: string[], seconds: number): Promise<[string, string, string] | null> {
    const command = this.blocking.bzpopmin(...keys, seconds.toFixed(3)) as Promise<
      [string, string, string] | null
    >
    command.catch(() => {})
    let timer: NodeJS.Timeout | undefined
    const watchdog = new Promise<'lost'>((resolve) => {
      timer = setTimeout(() => resolve('lost'), seconds * 1000 + WATCHDOG_MS)
    })
    try {
      const result = await Promise.race([command, watchdog])
      if (result !== 'lost') return result
      if (!this.closed) {
        this.log.warn('the shared wait for session jobs got no answer in time: reconnecting it')
        this.blocking.disconnect(true)
      }
      return null
    } finally {
      clearTimeout(timer)
    }
  }

  /** Whether the BZPOPMIN under way misses a waiting key, or blocks past a waiter's deadline. */
  private outdated(): boolean {
    const b = this.blocked
    if (!b) return false
    for (const [key, w] of this.waiters) if (!b.keys.has(key) || w.deadline < b.deadline) return true
    return false
  }

  /** Ends the BZPOPMIN under way (a key or an earlier deadline came in), so the next one includes it. */
  private interrupt(): void {
    if (this.unblocking) return
    this.unblocking = true
    const round = this.round
    void (async () => {
      let unblocked = false
      try {
        // The command may not have reached Redis yet (UNBLOCK answers 0): try again while that round lasts.
        for (let i = 0; i < UNBLOCK_RETRIES && this.round === round && this.blocked; i++) {
          const id = this.clientId
          if (id !== undefined && Number(await this.control.client('UNBLOCK', id, 'TIMEOUT')) === 1) {
            unblocked = true
            return
          }
          await new Promise((r) => setTimeout(r, 2))
        }
      } catch {
        // Redis away: the blocked command fails too, and the loop starts over.
      } finally {
        this.unblocking = false
        // A key or deadline that came in while this interrupt was under way (a new round had begun) may
        // need another; a round that would not be interrupted is tried again a little later.
        if (!unblocked && this.outdated()) {
          if (this.round !== round) this.interrupt()
          else setTimeout(() => this.outdated() && this.interrupt(), 50).unref()
        }
      }
    })()
  }
}

/**
 * The BullMQ backend of a session queue's Worker: BullMQ's Redis backend without the dedicated blocking
 * connection, waiting through the process's `MarkerWaits` instead. Without `waits` (a Cluster) it is
 * BullMQ's own backend, connection included.
 */
export function sessionWorkerBackend(waits: MarkerWaits | undefined) {
  return (name: string, opts: QueueBaseOptions, options?: { withBlockingConnection?: boolean }) => {
    if (!waits) return createRedisBackend(name, opts, options)
    const backend = createRedisBackend(name, opts, { withBlockingConnection: false })
    const marker = backend.toKey('marker')
    return Object.assign(backend, {
      waitForJob: (blockTimeout: number) => waits.wait(marker, blockTimeout),
      disconnectBlocking: async () => waits.cancel(marker),
    }) as IQueueBackend & typeof backend
  }
}
