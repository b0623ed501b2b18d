import type { Redis } from 'ioredis'
import type { Keys } from '../keys.js'
import { isCluster } from '../redis.js'
import type { LeaseStore } from '../worker/lease.js'
import { commandChannel } from './command-bus.js'
import { SESSION_STATUSES } from './port.js'
import type { SessionStatusRecord } from './status-store.js'

/**
 * The status the API reports. A stored `WORKING` (or `STARTING`, `SCAN_QR_CODE`) is a claim by the
 * process that wrote it; it holds only while that process is alive and holds the lease. A worker killed with -9 leaves `WORKING` behind for
 * the lease's lifetime (up to 10 s), while presence already answers 501: the API then says `MOVING`
 * (its last holder and since when) until the next holder reports.
 */
export const REPORTED_STATUSES = [...SESSION_STATUSES, 'MOVING'] as const

/** Statuses that claim a live holder process (STOPPED and FAILED do not). */
const HELD = new Set<string>(['STARTING', 'SCAN_QR_CODE', 'WORKING'])
export type ReportedStatus = (typeof REPORTED_STATUSES)[number]

export interface ReportedStatusRecord extends Omit<SessionStatusRecord, 'status'> {
  status: ReportedStatus
}

export interface LivenessDeps {
  redis: Redis
  keys: Keys
  leases: LeaseStore
  /** A worker without a heartbeat for this long is dead (ownership's `workerTtlMs`). */
  workerTtlMs: number
}

export async function reportedStatus(
  deps: LivenessDeps,
  sid: string,
  rec: SessionStatusRecord,
): Promise<ReportedStatusRecord> {
  if (!HELD.has(rec.status)) return rec
  // The command subscription comes last when a session is taken: only a WORKING holder must have it.
  const needsSubscriber = rec.status === 'WORKING'
  const { redis, keys, leases } = deps
  const [lease, [secs, micros], lastBeat, subscribers] = await Promise.all([
    leases.holderOf(sid),
    redis.time(),
    rec.holder ? redis.zscore(keys.global('workers'), rec.holder) : Promise.resolve(null),
    // The holder subscribes to the session's command channel; a dead process's subscription is gone at
    // once. (On a cluster the subscription may live on another node: the heartbeat has to do.)
    isCluster(redis) || !needsSubscriber
      ? Promise.resolve(null)
      : (redis.call('PUBSUB', 'NUMSUB', commandChannel(keys.prefix, sid)) as Promise<[string, number]>),
  ])
  const now = Number(secs) * 1000 + Math.floor(Number(micros) / 1000)
  const beatAt = lastBeat === null ? null : Number(lastBeat)
  const alive =
    lease !== null &&
    rec.holder !== null &&
    lease.holder === rec.holder &&
    beatAt !== null &&
    now - beatAt <= deps.workerTtlMs &&
    (subscribers === null || Number(subscribers[1]) > 0)
  if (alive) return rec
  const since = Math.max(rec.since, beatAt ?? 0)
  const last = rec.holder ?? 'unknown'
  return {
    ...rec,
    status: 'MOVING',
    qr: null,
    since,
    detail: `moving: its last holder ${last} stopped answering at ${new Date(since).toISOString()}; another worker takes the session within seconds`,
  }
}
