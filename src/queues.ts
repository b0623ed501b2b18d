import { type ConnectionOptions, Queue } from 'bullmq'
import type { Redis } from 'ioredis'

/**
 * Queues any worker process may consume (no session socket needed). Each name is its own hash tag, so
 * on Redis Cluster each queue sits whole on one shard.
 */
export const GLOBAL_QUEUES = {
  sla: '{sla}',
  webhooks: '{webhooks}',
  counters: '{counters}',
  crm: '{crm}',
} as const
export type GlobalQueueName = keyof typeof GLOBAL_QUEUES

export type GlobalQueues = Record<GlobalQueueName, Queue> & { close(): Promise<void> }

export function createGlobalQueues(redis: Redis, prefix: string): GlobalQueues {
  const make = (name: string) =>
    new Queue(name, { connection: redis as unknown as ConnectionOptions, prefix })
  const sla = make(GLOBAL_QUEUES.sla)
  const webhooks = make(GLOBAL_QUEUES.webhooks)
  const counters = make(GLOBAL_QUEUES.counters)
  const crm = make(GLOBAL_QUEUES.crm)
  return {
    sla,
    webhooks,
    counters,
    crm,
    async close() {
      await Promise.all([sla.close(), webhooks.close(), counters.close(), crm.close()])
    },
  }
}
