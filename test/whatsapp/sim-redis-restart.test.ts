import { pino } from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ManualClock } from '../../src/clock.js'
import { Keys } from '../../src/keys.js'
import { createRedis } from '../../src/redis.js'
import type { SessionStatus, WhatsAppSession } from '../../src/whatsapp/port.js'
import { SimNetwork } from '../../src/whatsapp/sim/network.js'
import { SimTransport } from '../../src/whatsapp/sim/transport.js'
import { type PrivateRedis, startPrivateRedis } from '../helpers/redis-servers.js'

/**
 * A Redis restart while the sim session is between delivering an entry and saving its offset. The
 * shared connection gives up on a command after 3 reconnect attempts (maxRetriesPerRequest 3, as in
 * production); that failed write once ended the delivery loop for good, with the status still WORKING.
 * The soak found it: one number stopped receiving and every job of its queue waited forever.
 */
let server: PrivateRedis
beforeAll(async () => {
  server = await startPrivateRedis()
}, 30_000)
afterAll(() => server.stop())

it('keeps delivering, and stays WORKING, after Redis restarts mid-delivery', async () => {
  const redis = createRedis(server.url, { name: 'sim-restart' })
  redis.on('error', () => {})
  const keys = new Keys('simrestart')
  const clock = new ManualClock(Date.UTC(2026, 10, 21, 10))
  const network = new SimNetwork(redis, keys, clock)
  const statuses: SessionStatus[] = []
  const transport = new SimTransport({
    redis,
    keys,
    network,
    log: pino({ level: 'silent' }),
    blockMs: 100,
    onStatus: async (_sid, status) => void statuses.push(status),
  })

  // A sink that holds the first delivery until the test lets it go, and resolves waiters per message id.
  const delivered: string[] = []
  const waiting = new Map<string, () => void>()
  let releaseFirst!: () => void
  const firstHeld = new Promise<void>((r) => {
    releaseFirst = r
  })
  let reachedFirst!: () => void
  const firstReached = new Promise<void>((r) => {
    reachedFirst = r
  })
  const sink = async (raw: unknown) => {
    const id = (raw as { key: { id: string } }).key.id
    if (id === 'RESTART1') {
      reachedFirst()
      await firstHeld
    }
    delivered.push(id)
    waiting.get(id)?.()
  }
  /** Resolves once `id` was delivered; fails after 10 s with the session's state instead of hanging. */
  const deliveredOf = (id: string) =>
    delivered.includes(id)
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`${id} never delivered; the session is ${session.status()}`)),
            10_000,
          )
          waiting.set(id, () => {
            clearTimeout(timer)
            resolve()
          })
        })

  const session: WhatsAppSession = await transport.open('s1', sink)
  try {
    await network.injectMessage('s1', { chatId: '491511112222@s.whatsapp.net', text: 'one', id: 'RESTART1' })
    await firstReached

    // Redis goes away while the entry is being handled: the offset write after it has nowhere to go.
    await server.kill()
    let attempts = 0
    const gaveUp = new Promise<void>((resolve) =>
      redis.on('reconnecting', () => {
        if (++attempts > 3) resolve() // past maxRetriesPerRequest: queued commands are rejected
      }),
    )
    releaseFirst()
    await gaveUp
    await server.start()

    await network.injectMessage('s1', { chatId: '491511112222@s.whatsapp.net', text: 'two', id: 'RESTART2' })
    await deliveredOf('RESTART2')
    expect(delivered).toEqual(['RESTART1', 'RESTART2'])
    expect(session.status()).toBe('WORKING')
    expect(statuses).toEqual(['WORKING'])
    // The offset names the last entry handled, so a new holder would not deliver them again.
    const last = (await redis.xrevrange(keys.simInbound('s1'), '+', '-', 'COUNT', 1))[0]![0]
    await expect.poll(() => redis.get(`${keys.simInbound('s1')}:offset`)).toBe(last)
  } finally {
    await session.close()
    redis.disconnect()
  }
}, 30_000)
