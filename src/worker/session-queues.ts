import { type ConnectionOptions, Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { QUEUE_STREAMS, type QueueErrorListener } from '../queues.js'

/**
 * Each session has its own BullMQ queue for work that needs its socket. The session id is the queue's
 * hash tag, so on Redis Cluster the queue lives on the same shard as the session's state.
 */
export function sessionQueueName(sessionId: string): string {
  return `{${sessionId}}-wa`
}

/** Producers' side: one Queue object per session, created on first use and shared. */
export class SessionQueues {
  private readonly queues = new Map<string, Queue>()

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onError: QueueErrorListener = () => {},
  ) {}

  get(sessionId: string): Queue {
    let q = this.queues.get(sessionId)
    if (!q) {
      q = new Queue(sessionQueueName(sessionId), {
        connection: this.redis as unknown as ConnectionOptions,
        prefix: this.prefix,
        // Each job's options (retries, retention) come from its definition in jobs/catalog.ts.
        streams: QUEUE_STREAMS,
      })
      const name = q.name
      q.on('error', (err) => this.onError(name, err))
      this.queues.set(sessionId, q)
    }
    return q
  }

  all(): Queue[] {
    return [...this.queues.values()]
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()))
    this.queues.clear()
  }
}
