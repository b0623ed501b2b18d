import { createHash } from 'node:crypto'
import { type ConnectionOptions, Queue } from 'bullmq'
import type { Redis } from 'ioredis'

/**
 * Queues any worker process may consume (no session socket needed). Each name is its own hash tag, so
 * on Redis Cluster each queue sits whole on one shard.
 */
export const GLOBAL_QUEUES = {
  webhooks: '{webhooks}',
  counters: '{counters}',
  crm: '{crm}',
  crmTasks: '{crm-tasks}',
} as const
export type GlobalQueueName = keyof typeof GLOBAL_QUEUES

/**
 * SLA timers are the one global queue that grows with traffic (a delayed job per level of every open
 * clock), so they are split into shards by session: on Redis Cluster the shards spread over the
 * masters. The count is fixed: changing it would strand the timers already in the old shards.
 */
export const SLA_SHARDS = 8

export function slaQueueName(shard: number): string {
  return `{sla-${shard}}`
}

/** The SLA shard of a session: stable across processes and restarts. */
export function slaShardOf(sessionId: string): number {
  return createHash('sha1').update(sessionId).digest().readUInt32BE(0) % SLA_SHARDS
}

export type GlobalQueues = Record<GlobalQueueName, Queue> & {
  /** Every SLA shard, in shard order. */
  sla: Queue[]
  /** The SLA shard that holds the session's timers. */
  slaFor(sessionId: string): Queue
  close(): Promise<void>
}

/**
 * BullMQ keeps an events stream per queue, 10,000 entries by default: about 1 MB per queue, the largest
 * single cost in the soak's memory (10 KB of 30 KB per chat with 20 session queues). Nothing of ours
 * reads it (no QueueEvents; Bull Board reads job state), so a short one is kept: 100 entries, trimmed
 * approximately (whole stream nodes), so a few hundred at most. Every Queue handle of a queue must pass
 * the same value: creating one rewrites the queue's stored settings.
 */
export const QUEUE_STREAMS = { events: { maxLen: 100 } }

/**
 * How every Worker of ours gets a job back from a process that died with it in flight (kill -9, OOM).
 * The job is "stalled" once its lock expires unrenewed; the next stalled check (every `stalledInterval`)
 * hands it to another worker. BullMQ fails it for good after `maxStalledCount` such hand-overs, 1 by
 * default: two kills landing on one job (a crash loop, a rolling restart, a slow HubSpot call stretched
 * across two kills) then lost an SLA task for good. Every job here is idempotent by its id, so it may
 * be handed over several times. A 10 s lock (renewed every 5 s) and a check every 5 s bring it back
 * within about 15 s instead of BullMQ's default 30-60 s.
 */
export const STALLED_JOB_RECOVERY = { lockDuration: 10_000, stalledInterval: 5000, maxStalledCount: 10 }

/** Called with a queue's connection errors (Redis restarting); without a listener BullMQ prints them raw. */
export type QueueErrorListener = (queue: string, err: Error) => void

export function createGlobalQueues(
  redis: Redis,
  prefix: string,
  onError: QueueErrorListener = () => {},
): GlobalQueues {
  const make = (name: string) => {
    const q = new Queue(name, {
      connection: redis as unknown as ConnectionOptions,
      prefix,
      streams: QUEUE_STREAMS,
    })
    q.on('error', (err) => onError(name, err))
    return q
  }
  const sla = Array.from({ length: SLA_SHARDS }, (_, i) => make(slaQueueName(i)))
  const webhooks = make(GLOBAL_QUEUES.webhooks)
  const counters = make(GLOBAL_QUEUES.counters)
  const crm = make(GLOBAL_QUEUES.crm)
  const crmTasks = make(GLOBAL_QUEUES.crmTasks)
  return {
    sla,
    slaFor: (sessionId) => sla[slaShardOf(sessionId)]!,
    webhooks,
    counters,
    crm,
    crmTasks,
    async close() {
      await Promise.all([...sla, webhooks, counters, crm, crmTasks].map((q) => q.close()))
    },
  }
}
