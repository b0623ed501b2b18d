import type { UserFacingSocketConfig } from '@whiskeysockets/baileys'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { Keys } from '../../src/keys.js'
import { compileRules } from '../../src/rules/compile.js'
import { rulesSchema } from '../../src/rules/schema.js'
import { BaileysTransport } from '../../src/whatsapp/baileys/transport.js'
import { SessionStatusStore } from '../../src/whatsapp/status-store.js'
import { LeaseStore } from '../../src/worker/lease.js'
import { FENCE_SHARE, SessionOwnership } from '../../src/worker/ownership.js'
import { FakeWASocket, memoryAuth } from '../helpers/fake-wa-socket.js'
import { type PrivateRedis, startPrivateRedis } from '../helpers/redis-servers.js'

/**
 * Fencing (issue 14, fault 2.5): a holder that cannot renew its lease closes its WhatsApp socket within
 * the fencing time, whatever Redis does (killed: commands refused; SIGSTOP: commands hang without an
 * answer). Two holders ("processes": own connections, own lease store, own transport) run against a
 * private redis-server; every socket's open and end instants are recorded, and no two sockets of the
 * number may ever be open at the same time.
 */
const SID = 'fenced'
const timings = { tickMs: 100, leaseMs: 1000, workerTtlMs: 400 }
const FENCE_MS = timings.leaseMs * FENCE_SHARE // 6 s of the 8 s lease in production
const log = pino({ level: 'silent' })
const rules = compileRules(
  rulesSchema.parse({ version: 1, orgs: [{ id: 'o' }], sessions: [{ id: SID, org: 'o' }] }),
)

interface SocketLife {
  holder: string
  openedAt: number
  endedAt: number | null
}

let server: PrivateRedis
beforeAll(async () => {
  server = await startPrivateRedis()
}, 30_000)
afterAll(async () => {
  await server?.stop()
})

function holder(id: string, keys: Keys, lives: SocketLife[]) {
  const redis = new Redis(server.url, { maxRetriesPerRequest: 3 })
  redis.on('error', () => {})
  const transport = new BaileysTransport({
    socketFactory: (config: UserFacingSocketConfig) => {
      const sock = new FakeWASocket(config)
      const life: SocketLife = { holder: id, openedAt: Date.now(), endedAt: null }
      lives.push(life)
      const end = sock.end
      sock.end = async (err) => {
        life.endedAt ??= Date.now()
        await end(err)
      }
      // The connection opens at once (a paired account).
      setImmediate(() => sock.open())
      return sock
    },
    authState: async () => memoryAuth(),
    log,
    onStatus: async () => {},
    waVersion: async () => undefined,
  })
  const ownership = new SessionOwnership({
    workerId: id,
    redis,
    keys,
    leases: new LeaseStore(redis, keys, timings.tickMs / 2),
    transport,
    statuses: new SessionStatusStore(redis, keys, systemClock),
    sink: async () => {},
    log,
    rules,
    timings,
    processors: {},
  })
  return { ownership, redis }
}

/** Sockets of the number whose open intervals overlap (an end at the very instant of an open is fine). */
function overlaps(lives: SocketLife[]): Array<[SocketLife, SocketLife]> {
  const out: Array<[SocketLife, SocketLife]> = []
  for (const a of lives) {
    for (const b of lives) {
      if (a === b || a.openedAt > b.openedAt) continue
      if (a.endedAt === null || a.endedAt > b.openedAt) out.push([a, b])
    }
  }
  return out
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function scenario(label: string, outage: () => Promise<void>, recover: () => Promise<void>) {
  const keys = new Keys(`tbt-fence-${label}`)
  const lives: SocketLife[] = []
  const a = holder('A', keys, lives)
  const b = holder('B', keys, lives)
  await Promise.all([a.ownership.start(), b.ownership.start()])
  // Settled: one holder with one open socket (a handover to the preferred worker may happen first).
  const open = () => lives.filter((l) => l.endedAt === null)
  await expect.poll(() => open().length, { timeout: 5000 }).toBe(1)
  await wait(400)
  expect(open()).toHaveLength(1)
  const first = open()[0]!

  const outageAt = Date.now()
  await outage()
  // The holder closes its socket within the fencing time (plus a fence check interval and slack).
  await expect.poll(() => first.endedAt, { timeout: FENCE_MS + 1500, interval: 10 }).not.toBeNull()
  expect(first.endedAt! - outageAt).toBeLessThanOrEqual(FENCE_MS + 300)
  // Keep Redis away past the lease, so another holder may take the number as soon as it is back.
  await wait(timings.leaseMs + 200 - (Date.now() - outageAt))
  await recover()
  await expect
    .poll(() => lives.filter((l) => l.openedAt > first.endedAt!).length, { timeout: 10_000 })
    .toBeGreaterThan(0)
  await wait(500)
  expect(overlaps(lives)).toEqual([])

  await Promise.all([a.ownership.close(), b.ownership.close()])
  a.redis.disconnect()
  b.redis.disconnect()
  expect(lives.every((l) => l.endedAt !== null)).toBe(true)
}

describe('fencing: the old holder closes its socket before anyone else opens one', () => {
  it('Redis stopped with SIGSTOP (commands hang)', async () => {
    await scenario(
      'stop',
      async () => server.pause(),
      async () => server.resume(),
    )
  }, 30_000)

  it('Redis killed (commands refused), then restarted', async () => {
    await scenario(
      'kill',
      () => server.kill(),
      () => server.start(),
    )
  }, 30_000)
})
