import { type Job, Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { MarkerWaits, sessionWorkerBackend } from '../../src/worker/marker-waits.js'
import { REDIS_URL, testRedis } from '../helpers/redis.js'

/**
 * Session queues' Workers waiting through one shared connection (issue 18, item 4): real BullMQ Workers
 * and Queues on the real Redis, each with the backend `sessionWorkerBackend` gives them.
 */
const t = testRedis('marker-waits')
const log = pino({ level: 'silent' })
const open: Array<{ close(): Promise<unknown> }> = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close()
})
afterAll(() => t.cleanup())

function startWaits(name = `${t.prefix}-waits`) {
  const blocking = new Redis(REDIS_URL, { maxRetriesPerRequest: null, connectionName: name })
  const waits = new MarkerWaits(blocking, t.redis, log)
  open.push(waits)
  return waits
}

function queue(name: string) {
  const q = new Queue(name, { connection: t.redis, prefix: t.prefix })
  open.push(q)
  return q
}

function worker(name: string, waits: MarkerWaits | undefined, seen: string[], drainDelay = 30) {
  const w = new Worker(
    name,
    async (job: Job) => {
      seen.push(`${name}/${job.name}`)
    },
    { connection: t.redis, prefix: t.prefix, drainDelay },
    sessionWorkerBackend(waits),
  )
  open.push(w)
  return w
}

/** Connections of this test file blocked in BZPOPMIN: ours are named after the prefix, BullMQ's too. */
async function blockedConnections(): Promise<number> {
  const list = (await t.redis.client('LIST')) as string
  return list.split('\n').filter((line) => line.includes(`name=${t.prefix}`) && line.includes('cmd=bzpopmin'))
    .length
}

describe('one blocking connection for many session queues', () => {
  it('20 Workers wait on one connection, where BullMQ alone would use 20; each gets its jobs', async () => {
    const waits = startWaits()
    const seen: string[] = []
    const names = Array.from({ length: 20 }, (_, i) => `{s${i}}-wa`)
    for (const n of names) worker(n, waits, seen)
    await vi.waitFor(async () => expect(await blockedConnections()).toBe(1))
    for (const n of names) await queue(n).add('act', {})
    await vi.waitFor(() => expect(seen.sort()).toEqual(names.map((n) => `${n}/act`).sort()))
    // The same Workers with BullMQ's own backend: a blocking connection each.
    const own: string[] = []
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
    open.push({ close: async () => connection.disconnect() })
    for (const n of names.slice(0, 5)) {
      const w = new Worker(
        `${n}-own`,
        async (job: Job) => {
          own.push(job.name)
        },
        { connection, prefix: t.prefix, drainDelay: 30 },
        sessionWorkerBackend(undefined),
      )
      open.push(w)
    }
    await vi.waitFor(async () => expect(await blockedConnections()).toBe(1 + 5))
  })

  it('a queue that starts waiting while the others are blocked is woken at once, not at their timeout', async () => {
    const waits = startWaits()
    const seen: string[] = []
    worker('{a}-wa', waits, seen, 30)
    await vi.waitFor(async () => expect(await blockedConnections()).toBe(1))
    const started = Date.now()
    worker('{b}-wa', waits, seen, 30)
    await queue('{b}-wa').add('late', {})
    await vi.waitFor(() => expect(seen).toEqual(['{b}-wa/late']), { timeout: 5000 })
    // The other queue's wait runs for 30 s; the new queue's job did not wait for it.
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('a delayed job runs when due', async () => {
    const waits = startWaits()
    const ran: number[] = []
    const w = new Worker(
      '{d}-wa',
      async () => {
        ran.push(Date.now())
      },
      { connection: t.redis, prefix: t.prefix, drainDelay: 30 },
      sessionWorkerBackend(waits),
    )
    open.push(w)
    worker('{other}-wa', waits, [], 30)
    const due = Date.now() + 1500
    await queue('{d}-wa').add('later', {}, { delay: 1500 })
    await vi.waitFor(() => expect(ran).toHaveLength(1), { timeout: 10_000 })
    expect(ran[0]!).toBeGreaterThanOrEqual(due - 5)
    expect(ran[0]! - due).toBeLessThan(1000)
  })

  it('closing a Worker ends its wait at once, and its queue is then left alone', async () => {
    const waits = startWaits()
    const seen: string[] = []
    const w = worker('{c}-wa', waits, seen, 30)
    worker('{keep}-wa', waits, seen, 30)
    await vi.waitFor(async () => expect(await blockedConnections()).toBe(1))
    const started = Date.now()
    await w.close()
    expect(Date.now() - started).toBeLessThan(3000)
    await queue('{c}-wa').add('after-close', {})
    await queue('{keep}-wa').add('still-served', {})
    await vi.waitFor(() => expect(seen).toEqual(['{keep}-wa/still-served']))
    expect(await queue('{c}-wa').getWaitingCount()).toBe(1)
  })

  it('its connection killed, the wait reconnects and the Workers get their jobs', async () => {
    const name = `${t.prefix}-waits-killed`
    const waits = startWaits(name)
    const seen: string[] = []
    worker('{k}-wa', waits, seen, 30)
    await vi.waitFor(async () => expect(await blockedConnections()).toBe(1))
    const list = (await t.redis.client('LIST')) as string
    const id = /^id=(\d+)/.exec(list.split('\n').find((l) => l.includes(`name=${name} `)) ?? '')?.[1]
    expect(id).toBeDefined()
    await t.redis.client('KILL', 'ID', id!)
    await queue('{k}-wa').add('after-kill', {})
    await vi.waitFor(() => expect(seen).toEqual(['{k}-wa/after-kill']), { timeout: 15_000 })
  })
})
