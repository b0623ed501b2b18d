import { Worker as BullWorker, type ConnectionOptions, Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { type Fence, FenceRefusedError, unlessRefused } from '../fence/fence.js'
import type { Keys } from '../keys.js'
import { QUEUE_STREAMS, STALLED_JOB_RECOVERY } from '../queues.js'
import { duplicateRedis } from '../redis.js'
import type { Rules } from '../rules/compile.js'
import type { SessionCommandServer } from '../whatsapp/command-bus.js'
import {
  type EventSink,
  SessionNotLiveError,
  type WhatsAppSession,
  type WhatsAppTransport,
} from '../whatsapp/port.js'
import type { SessionStatusStore } from '../whatsapp/status-store.js'
import { preferredWorker } from './assignment.js'
import type { LeaseStore } from './lease.js'
import { type MarkerWaits, sessionWorkerBackend } from './marker-waits.js'
import { runSessionJob, type SessionJobProcessor } from './session-jobs.js'
import { sessionQueueName } from './session-queues.js'

export interface OwnershipTimings {
  /** How often leases are renewed and the assignment is re-checked. */
  tickMs: number
  /** A lease not renewed for this long expires; another worker may then take the session. */
  leaseMs: number
  /** A worker without a heartbeat for this long is considered dead. */
  workerTtlMs: number
}

export const DEFAULT_TIMINGS: OwnershipTimings = { tickMs: 2000, leaseMs: 8000, workerTtlMs: 6000 }

/**
 * Past this share of the lease without a successful renewal, the holder closes its socket (fencing):
 * 6 s of the 8 s lease, so a holder rides out a Redis outage of about 4 s (two missed passes) and
 * closes its socket 2 s before anyone else may open one. The lease bounds how soon a dead worker's
 * sessions start elsewhere.
 */
export const FENCE_SHARE = 0.75

/** An extra pass for a dead holder's lease runs this long after the lease's expiry (Redis' clock). */
const EXPIRY_SLACK_MS = 25

/** Sessions renewed, handed over or taken at a time in one ownership pass. */
const PARALLEL = 16

/** Runs `fn` over the items, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}

/** A step of a drop that waits on Redis (or on a job that waits on it) gets this long at most. */
const DROP_STEP_MS = 2000

const boundedStep = (work: Promise<unknown>, ms = DROP_STEP_MS): Promise<unknown> =>
  Promise.race([work.catch(() => {}), new Promise((r) => setTimeout(r, ms).unref())])

/** A holding's fencing token: its lease epoch, and whether Redis has refused one of its writes. */
interface HolderFence extends Fence {
  refused: boolean
}

interface Held {
  epoch: number
  /** Carried by every write of this holding (status, auth, inbox events): see ../fence. */
  fence: HolderFence
  session: WhatsAppSession
  actions: BullWorker
  /**
   * The connection handed to `actions` when it has one of its own (a Cluster: BullMQ does not close a
   * connection it was given); with the process's shared wait, `actions` uses the shared connection.
   */
  actionsConnection?: Redis
  /** Local deadline: past it without a successful renewal we must assume the lease is gone. */
  fenceAt: number
  closing?: Promise<void>
}

/**
 * Decides which sessions this worker process holds and runs them. Each session is held by exactly one
 * process through a Redis lease; sessions spread over the live workers by rendezvous hashing; when a
 * worker dies its leases expire and the sessions start elsewhere. A holder that cannot renew stops its
 * socket before the lease can expire (self-fencing), so two sockets never run for one number. A holder
 * that stalled past its lease (its process stopped) cannot fence itself in time; its writes carry its
 * lease epoch instead, Redis refuses them once a newer holder has the session, and the first refusal
 * closes its socket.
 */
export class SessionOwnership {
  private readonly held = new Map<string, Held>()
  /** The fence of each session's latest holding in this process (kept after it ends: late writes carry it). */
  private readonly fences = new Map<string, HolderFence>()
  private timer: NodeJS.Timeout | undefined
  /** Checks the fencing deadlines on its own clock: a tick stuck on Redis must not delay fencing. */
  private fenceTimer: NodeJS.Timeout | undefined
  private ticking: Promise<void> = Promise.resolve()
  /** An extra pass set for when a dead holder's lease on a session we should hold runs out. */
  private early: { timer: NodeJS.Timeout; at: number } | undefined
  private stopped = false
  private rules: Rules

  constructor(
    private readonly deps: {
      workerId: string
      redis: Redis
      keys: Keys
      leases: LeaseStore
      transport: WhatsAppTransport
      statuses: SessionStatusStore
      /** Where a held session's WhatsApp events go, with the holding's fence to apply them under. */
      sink: (event: unknown, fence: Fence) => Promise<void>
      log: Logger
      /** Connection errors of the session queues' workers and the heartbeat (see Services.onRedisError). */
      onRedisError?: (err: unknown, source: string) => void
      rules: Rules
      commands?: SessionCommandServer
      /** Processors of the session queues' jobs, by job name. */
      processors: Readonly<Record<string, SessionJobProcessor>>
      timings?: Partial<OwnershipTimings>
      /**
       * One blocking connection for every held session's job queue (single Redis). Without it each
       * session's Worker has two connections of its own, one of them blocking (BullMQ's default).
       */
      markerWaits?: MarkerWaits
    },
  ) {
    this.rules = deps.rules
  }

  private get t(): OwnershipTimings {
    return { ...DEFAULT_TIMINGS, ...this.deps.timings }
  }

  get(sessionId: string): WhatsAppSession | undefined {
    return this.held.get(sessionId)?.session
  }

  /**
   * The fence for writes the transport makes for a session this process holds (its status, its auth):
   * that of the latest holding here, also after it ended, so a late write of a deposed holding is refused.
   */
  fenceOf(sessionId: string): Fence | undefined {
    return this.fences.get(sessionId)
  }

  sessionIds(): string[] {
    return [...this.held.keys()]
  }

  start(): Promise<void> {
    const first = this.tick()
    this.timer = setInterval(() => void this.tick(), this.t.tickMs)
    this.fenceTimer = setInterval(() => this.fenceExpired(), Math.max(20, Math.min(250, this.t.tickMs / 4)))
    return first
  }

  /** Applies new rules at once (sessions added or removed). */
  sync(rules: Rules): Promise<void> {
    this.rules = rules
    return this.tick()
  }

  /** One pass: heartbeat, then take, keep, hand over or drop sessions. Passes never overlap. */
  tick(): Promise<void> {
    this.ticking = this.ticking
      .then(() => this.doTick())
      .catch((err: unknown) => {
        this.deps.log.error({ err }, 'session ownership pass failed')
      })
    return this.ticking
  }

  private async doTick(): Promise<void> {
    if (this.stopped) return
    const { workerId, leases, log } = this.deps
    const t = this.t
    let live: string[]
    try {
      live = await leases.heartbeat(workerId, t.workerTtlMs)
    } catch (err) {
      if (this.deps.onRedisError) this.deps.onRedisError(err, 'worker heartbeat')
      else log.warn({ err }, 'heartbeat failed (Redis unreachable?)')
      this.fenceExpired()
      return
    }
    if (!live.includes(workerId)) live.push(workerId)
    const sids = [...this.rules.sessions.keys()]
    const stopped = await this.deps.statuses.stoppedAmong(sids).catch(() => new Set<string>())
    const wanted = new Set<string>()
    for (const sid of sids) if (!stopped.has(sid) && preferredWorker(sid, live) === workerId) wanted.add(sid)

    // Renewals first: with hundreds of sessions, hand-overs and takes must not hold them up past the
    // fencing deadline. Each step runs PARALLEL sessions at a time (the shared connection pipelines them).
    const leaving: Array<[string, Held, string]> = []
    const keeping: Array<[string, Held]> = []
    for (const [sid, h] of this.held) {
      if (!this.rules.sessions.has(sid)) leaving.push([sid, h, 'removed from the rules'])
      else if (stopped.has(sid)) leaving.push([sid, h, 'stopped by an operator'])
      else if (!wanted.has(sid)) leaving.push([sid, h, 'handed over to another worker'])
      else keeping.push([sid, h])
    }
    await eachLimited(keeping, PARALLEL, async ([sid, h]) => {
      try {
        // The lease runs from when Redis applied the renewal, at the latest when we sent it.
        const sentAt = Date.now()
        if (await leases.renew(sid, workerId, h.epoch, t.leaseMs)) {
          h.fenceAt = Math.max(h.fenceAt, sentAt + t.leaseMs * FENCE_SHARE)
        } else {
          log.warn({ sessionId: sid }, 'lease lost: stopping the session')
          await this.drop(sid, h, 'lease lost', false)
        }
      } catch (err) {
        log.warn({ err, sessionId: sid }, 'lease renewal failed')
      }
    })
    this.fenceExpired()
    await eachLimited(leaving, PARALLEL, ([sid, h, why]) => this.drop(sid, h, why))

    const toTake = [...wanted].filter((sid) => !this.held.has(sid))
    let freeAt = Number.POSITIVE_INFINITY
    await eachLimited(toTake, PARALLEL, async (sid) => {
      if (this.held.has(sid) || this.stopped) return
      let epoch = 0
      const sentAt = Date.now()
      try {
        epoch = await leases.acquire(sid, workerId, t.leaseMs)
      } catch (err) {
        log.warn({ err, sessionId: sid }, 'lease acquisition failed')
      }
      // Still leased by the worker it leaves (dead, or about to hand it over): free at sentAt - epoch.
      if (epoch < 0) freeAt = Math.min(freeAt, sentAt - epoch)
      // A lease granted too late to be worth anything (Redis answered slowly) is not used.
      else if (epoch > 0 && Date.now() < sentAt + t.leaseMs * FENCE_SHARE) await this.take(sid, epoch, sentAt)
      else if (epoch > 0) await leases.release(sid, workerId, epoch).catch(() => {})
    })
    this.passAt(freeAt + EXPIRY_SLACK_MS)
  }

  /**
   * A lease we wait for runs out before the next regular pass: one extra pass then takes the session
   * (a dead worker's sessions start elsewhere up to a whole `tickMs` sooner). A live holder renews long
   * before its lease runs out, so this only fires for one that stopped renewing.
   */
  private passAt(at: number): void {
    const delay = at - Date.now()
    if (this.stopped || !(delay < this.t.tickMs) || (this.early && this.early.at <= at)) return
    if (this.early) clearTimeout(this.early.timer)
    const timer = setTimeout(
      () => {
        this.early = undefined
        void this.tick()
      },
      Math.max(0, delay),
    )
    this.early = { timer, at }
  }

  /** Stops sessions whose lease may have expired without us noticing (Redis unreachable). */
  private fenceExpired(): void {
    const now = Date.now()
    for (const [sid, h] of this.held) {
      // Once: the drop it starts may itself wait for Redis, and later passes find the session still held.
      if (now > h.fenceAt && !h.closing) {
        this.deps.log.error(
          { sessionId: sid },
          'lease could not be renewed in time: stopping the socket (fencing)',
        )
        void this.drop(sid, h, 'lease not renewed in time', false, true)
      }
    }
  }

  /**
   * Redis refused a write of this holding: a newer holder has the session. Closes the socket at once
   * (without waiting on Redis, like self-fencing), logged once per holding.
   */
  private deposed(sid: string, fence: HolderFence, err: FenceRefusedError): void {
    fence.refused = true
    const h = this.held.get(sid)
    // Still being taken: take() sees `refused` and closes what it opened.
    if (!h || h.fence !== fence || h.closing) return
    this.deps.log.error(
      { sessionId: sid, epoch: fence.epoch, write: err.write },
      'a newer holder took the session (this lease epoch is stale): stopping the socket (fencing)',
    )
    void this.drop(sid, h, 'a newer holder took the session', false, true)
  }

  /** A holding's events go to the sink under its fence; one refused is the newer holder's to apply. */
  private holderSink(fence: Fence): EventSink {
    return (event) => this.deps.sink(event, fence).catch(unlessRefused)
  }

  private async take(sid: string, epoch: number, acquiredAt: number): Promise<void> {
    const { transport, statuses, log, workerId, redis, keys } = this.deps
    const fence: HolderFence = { epoch, refused: false, onRefused: (err) => this.deposed(sid, fence, err) }
    this.fences.set(sid, fence)
    const superseded = () =>
      log.error(
        { sessionId: sid, epoch },
        'a newer holder took the session while this worker was taking it: not starting it (fencing)',
      )
    try {
      await statuses.set(sid, 'STARTING', { holder: workerId }, fence)
    } catch (err) {
      if (!(err instanceof FenceRefusedError)) throw err
      return superseded()
    }
    let session: WhatsAppSession
    try {
      session = await transport.open(sid, this.holderSink(fence))
    } catch (err) {
      await statuses
        .set(
          sid,
          'FAILED',
          { detail: err instanceof Error ? err.message : String(err), holder: workerId },
          fence,
        )
        .catch(unlessRefused)
      await this.deps.leases.release(sid, workerId, epoch)
      log.error({ err, sessionId: sid }, 'session failed to start')
      return
    }
    const fenceAt = acquiredAt + this.t.leaseMs * FENCE_SHARE
    try {
      if (fence.refused) throw new FenceRefusedError(sid, epoch, 'take')
      // Bounded by the fencing deadline: a socket in nobody's `held` map would escape fencing.
      await Promise.race([
        this.requeueOrphans(sid),
        new Promise((_, reject) =>
          setTimeout(
            () => reject(new Error('Redis too slow while taking the session')),
            Math.max(0, fenceAt - Date.now()),
          ).unref(),
        ),
      ])
    } catch (err) {
      // Redis went away mid-take (or a newer holder took the session): close the socket just opened (it
      // is in nobody's hands) and let a later pass take the session again, rather than leave a second
      // socket running for the number.
      await session.close().catch(() => {})
      if (err instanceof FenceRefusedError) return superseded()
      await this.deps.leases.release(sid, workerId, epoch).catch(() => {})
      log.warn({ err, sessionId: sid }, 'session take interrupted; will retry')
      return
    }
    const waits = this.deps.markerWaits
    const actionsConnection = waits ? undefined : this.ownConnection(sid)
    const actions = new BullWorker(
      sessionQueueName(sid),
      (job, token) => runSessionJob(job, token, sid, this.held.get(sid)?.session, this.deps.processors),
      {
        connection: (actionsConnection ?? redis) as unknown as ConnectionOptions,
        prefix: keys.prefix,
        concurrency: 1,
        // Shorter than the shortest lease expiry after a crash (leaseMs - tickMs), so a dead holder's
        // job lock is always gone when the next holder takes the session (see requeueOrphans).
        lockDuration: Math.max(1000, Math.floor((this.t.leaseMs - this.t.tickMs) * 0.75)),
        stalledInterval: STALLED_JOB_RECOVERY.stalledInterval,
        maxStalledCount: STALLED_JOB_RECOVERY.maxStalledCount,
        // A job added or coming due wakes the Worker (its queue's marker); the drain delay is only the
        // idle re-check, which the shared wait pays per session: once in 30 s rather than every 5 s.
        ...(waits ? { drainDelay: 30 } : {}),
      },
      sessionWorkerBackend(waits),
    )
    // Without a listener BullMQ prints every connection error raw (with its stack) to stderr.
    actions.on('error', (err) =>
      this.deps.onRedisError
        ? this.deps.onRedisError(err, `worker ${sessionQueueName(sid)}`)
        : log.warn({ sessionId: sid, err: err.message }, 'session queue worker error'),
    )
    actions.on('failed', (job, err) =>
      log.warn({ sessionId: sid, jobId: job?.id, err: err.message }, 'session action failed'),
    )
    this.held.set(sid, {
      epoch,
      fence,
      session,
      actions,
      ...(actionsConnection ? { actionsConnection } : {}),
      fenceAt,
    })
    await this.deps.commands?.serve(sid)
    log.info({ sessionId: sid, epoch, transport: transport.kind }, 'session taken')
    // Refused between the checks above and now: the holding is in `held`, so fence it the usual way.
    if (fence.refused) this.deposed(sid, fence, new FenceRefusedError(sid, epoch, 'take'))
  }

  /** A connection of the session's own for its Worker (no shared wait: a Cluster). */
  private ownConnection(sid: string): Redis {
    const connection = duplicateRedis(this.deps.redis, { forWorkers: true })
    // BullMQ drops its own listener when the worker closes; a reconnect attempt still under way then
    // (Redis down while the session is fenced) would otherwise print "[ioredis] Unhandled error event".
    const onConnectionError = (err: unknown) =>
      this.deps.onRedisError?.(err, `connection ${sessionQueueName(sid)}`)
    connection.on('error', onConnectionError)
    // BullMQ's Worker opens its blocking connection as a duplicate of this one and drops its listener
    // when it closes; a fenced session closes while Redis is down, and that connection's reconnect
    // attempts then printed "[ioredis] Unhandled error event" with a stack, once per attempt.
    const duplicate = connection.duplicate.bind(connection)
    connection.duplicate = (...args: Parameters<typeof duplicate>) => {
      const c = duplicate(...args)
      c.on('error', onConnectionError)
      return c
    }
    return connection
  }

  /** Re-opens a held session's connection (after FAILED, or to pair again), keeping its lease. */
  async restart(sid: string): Promise<void> {
    const h = this.held.get(sid)
    if (!h) throw new SessionNotLiveError(sid)
    await h.session.close()
    await this.deps.statuses.set(
      sid,
      'STARTING',
      { holder: this.deps.workerId, detail: 'restart requested' },
      h.fence,
    )
    h.session = await this.deps.transport.open(sid, this.holderSink(h.fence))
    this.deps.log.info({ sessionId: sid }, 'session restarted')
  }

  /** Logs the session out on WhatsApp (the transport wipes its auth); it then needs pairing again. */
  async logout(sid: string): Promise<void> {
    const h = this.held.get(sid)
    if (!h) throw new SessionNotLiveError(sid)
    if (!h.session.logout) throw new Error(`the ${this.deps.transport.kind} transport has no logout`)
    await h.session.logout()
    this.deps.log.warn({ sessionId: sid }, 'session logged out by an operator')
  }

  /**
   * A previous holder that died mid-job left that job in `active`. BullMQ would find it only after two
   * stalled-check passes, after newer jobs ran; putting it back at the head of the queue now keeps the
   * session's actions in order. Its lock has expired by now (lockDuration < lease expiry).
   */
  private async requeueOrphans(sid: string): Promise<void> {
    const { redis, keys, log } = this.deps
    const q = new Queue(sessionQueueName(sid), {
      connection: redis as unknown as ConnectionOptions,
      prefix: keys.prefix,
      streams: QUEUE_STREAMS,
    })
    try {
      const active = await q.getActive()
      for (const job of active) {
        const lockKey = `${keys.prefix}:${sessionQueueName(sid)}:${job.id}:lock`
        if (await redis.exists(lockKey)) continue
        await job.moveToWait('0')
        log.warn(
          { sessionId: sid, jobId: job.id },
          'requeued an action left in flight by the previous holder',
        )
      }
    } finally {
      await q.close()
    }
  }

  /**
   * Stops holding a session. Normally the action in flight finishes first, then the socket closes, then
   * the lease is released. When fencing (`fenced`: the lease may be gone), the socket closes FIRST and
   * nothing waits on Redis before it: another process may take the number any moment now.
   */
  private drop(sid: string, h: Held, why: string, release = true, fenced = false): Promise<void> {
    h.closing ??= (async () => {
      const { leases, statuses, log, workerId } = this.deps
      const socketClosed = fenced ? h.session.close().catch(() => {}) : undefined
      await boundedStep(this.deps.commands?.unserve(sid) ?? Promise.resolve())
      // A normal hand-over lets the action in flight finish (it may wait for send tokens); fencing
      // does not wait for it (its socket is already closed; the job is retried by the next holder).
      if (fenced) await boundedStep(h.actions.close(true))
      else await h.actions.close().catch(() => {})
      h.actionsConnection?.disconnect()
      await (socketClosed ? boundedStep(socketClosed) : h.session.close())
      this.held.delete(sid)
      if (release) await leases.release(sid, workerId, h.epoch).catch(() => {})
      // Fenced: once a newer holder has the session, its status stands (a refusal here is expected).
      await statuses.set(sid, 'STOPPED', { detail: why }, h.fence).catch(() => {})
      log.info({ sessionId: sid, why }, 'session released')
    })()
    return h.closing
  }

  /** Releases every session (graceful: the next holder need not wait for the leases to expire). */
  async close(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    if (this.fenceTimer) clearInterval(this.fenceTimer)
    if (this.early) clearTimeout(this.early.timer)
    await this.ticking
    await Promise.all([...this.held].map(([sid, h]) => this.drop(sid, h, 'worker shut down')))
    await this.deps.leases.leave(this.deps.workerId).catch(() => {})
  }
}
