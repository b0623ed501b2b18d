import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import type { Queue } from 'bullmq'
import type { Services } from '../services.js'

type BoardWorkers = Awaited<ReturnType<BullMQAdapter['getWorkers']>>

/**
 * Bull Board's adapter for a session's job queue. The board lists a queue's workers from Redis'
 * `CLIENT LIST` (BullMQ Queue.getWorkers, connections named after the queue) and shows "No workers"
 * when there are none. A session's queue has no such connection: the worker that holds the session
 * waits on all its sessions' queues through one shared connection (worker/marker-waits.ts). So the
 * worker reported here is the live holder of the session's lease, which is who runs the queue; none
 * when no live worker holds the session, which is then the truth.
 */
export class SessionQueueBoardAdapter extends BullMQAdapter {
  constructor(
    queue: Queue,
    private readonly consumer: () => ReturnType<Services['sessionQueueConsumer']>,
    private readonly now: () => number,
    options: { readOnlyMode: boolean },
  ) {
    super(queue, options)
  }

  override async getWorkers(): Promise<BoardWorkers> {
    const c = await this.consumer()
    if (!c) return []
    return [
      {
        id: c.workerId,
        name: `${c.workerId} (holds the session; one shared wait for its queues)`,
        addr: 'shared wait',
        age: Math.max(0, Math.round((this.now() - c.since) / 1000)),
      },
    ]
  }
}

/** The board's adapter of each dashboard queue: session queues tell who runs them (above). */
export function boardAdapters(
  s: Services,
  queues: Queue[],
  options: { readOnlyMode: boolean },
): BullMQAdapter[] {
  const sessionOfQueue = new Map(
    [...s.rules.current().sessions.keys()].map((sid) => [s.sessionQueues.get(sid).name, sid]),
  )
  return queues.map((q) => {
    const sid = sessionOfQueue.get(q.name)
    return sid
      ? new SessionQueueBoardAdapter(
          q,
          () => s.sessionQueueConsumer(sid),
          () => s.clock.now(),
          options,
        )
      : new BullMQAdapter(q, options)
  })
}
