import type { UserFacingSocketConfig } from '@whiskeysockets/baileys'
import { DisconnectReason } from '@whiskeysockets/baileys'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { fakeBaileys, fakeSocketFactory } from '../helpers/fake-wa-socket.js'

/**
 * Issue 24, fault 1: a connection WhatsApp ends right after login. Baileys emits `open` on `CB:success`
 * and ends the socket on `CB:stream:error` (e.g. code 515 "restart required", Utils/generics
 * `getErrorCodeFromStreamError`), `CB:failure` or `CB:xmlstreamend` (Socket/socket.js), so a socket can
 * open and die within a second, each time after a full login.
 */

const SID = 'support-de'
const noSink = async () => {}
const settle = () => vi.advanceTimersByTimeAsync(0)

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
})
afterEach(() => {
  vi.useRealTimers()
})

/** A fake Baileys whose socket factory records when each socket was created. */
function timedBaileys(overrides: Parameters<typeof fakeBaileys>[0] = {}) {
  const sockets = fakeSocketFactory()
  const createdAt: number[] = []
  const logins: string[] = []
  const h = fakeBaileys({
    socketFactory: (config: UserFacingSocketConfig) => {
      createdAt.push(Date.now())
      return sockets.factory(config)
    },
    onLogin: (sid) => logins.push(sid),
    ...overrides,
  })
  return { ...h, sockets, createdAt, logins }
}

/** Advances time until the session opens its next socket (or `maxMs` passed); returns the wait. */
async function untilNextSocket(sockets: { sockets: unknown[] }, maxMs = 600_000): Promise<number> {
  const before = sockets.sockets.length
  await settle()
  let waited = 0
  while (sockets.sockets.length === before && waited < maxMs) {
    await vi.advanceTimersByTimeAsync(100)
    waited += 100
  }
  return waited
}

describe('a connection that drops right after login (issue 24, fault 1)', () => {
  it('backs off more after each drop that follows a login, instead of reconnecting within 1 s forever', async () => {
    const h = timedBaileys({ rand: () => 0.5 })
    const session = await h.transport.open(SID, noSink)
    const waits: number[] = []
    for (let i = 0; i < 5; i++) {
      h.sockets.last().open()
      await settle()
      expect(session.status()).toBe('WORKING')
      h.sockets.last().drop(DisconnectReason.restartRequired)
      waits.push(await untilNextSocket(h.sockets))
    }
    // Full jitter at rand 0.5 over 1 s * 2^attempt: the first 515 restarts at once, then 1, 2, 4, 8 s.
    expect(waits).toEqual([0, 1_000, 2_000, 4_000, 8_000])
    await session.close()
  })

  it('starts the backoff over once a connection stayed open 60 s (configurable)', async () => {
    const h = timedBaileys({ rand: () => 0.5, logins: { stableAfterMs: 30_000 } })
    const session = await h.transport.open(SID, noSink)
    h.sockets.last().drop(DisconnectReason.connectionLost)
    await untilNextSocket(h.sockets)
    h.sockets.last().drop(DisconnectReason.connectionLost)
    expect(await untilNextSocket(h.sockets)).toBe(1_000)
    h.sockets.last().open()
    await vi.advanceTimersByTimeAsync(29_000)
    h.sockets.last().drop(DisconnectReason.connectionLost)
    // Open 29 s: not yet stable, the attempts go on (attempt 2: 2 s at rand 0.5).
    expect(await untilNextSocket(h.sockets)).toBe(2_000)
    h.sockets.last().open()
    await vi.advanceTimersByTimeAsync(30_000)
    h.sockets.last().drop(DisconnectReason.connectionLost)
    expect(await untilNextSocket(h.sockets)).toBe(500)
    await session.close()
  })

  it('after 10 logins in an hour the session FAILs with "connection keeps dropping after login" and the last causes', async () => {
    const h = timedBaileys({ rand: () => 0.5 })
    const session = await h.transport.open(SID, noSink)
    for (let i = 0; i < 30 && session.status() !== 'FAILED'; i++) {
      h.sockets.last().open()
      await settle()
      h.sockets.last().drop(i % 2 === 0 ? DisconnectReason.restartRequired : DisconnectReason.badSession)
      await untilNextSocket(h.sockets, 120_000)
    }
    expect(h.logins).toHaveLength(10)
    expect(h.sockets.sockets).toHaveLength(10)
    expect(session.status()).toBe('FAILED')
    const detail = h.statuses.at(-1)?.detail ?? ''
    expect(detail).toMatch(/^connection keeps dropping after login: 10 logins in the last hour \(limit 10\)/)
    expect(detail).toContain('last causes: 500: Connection Failure; 515: Connection Failure')
    // No 11th login, ever.
    await vi.advanceTimersByTimeAsync(3 * 3_600_000)
    expect(h.sockets.sockets).toHaveLength(10)
    // Ten logins within the hour.
    expect(Math.max(...h.createdAt) - Math.min(...h.createdAt)).toBeLessThan(3_600_000)
    await session.close()
  })

  it('the hour is a rolling window: logins spread wider than the bound keep the session reconnecting', async () => {
    const h = timedBaileys({ rand: () => 0.5, logins: { maxLoginsPerHour: 3 } })
    const session = await h.transport.open(SID, noSink)
    for (let i = 0; i < 6; i++) {
      h.sockets.last().open()
      await vi.advanceTimersByTimeAsync(35 * 60_000)
      h.sockets.last().drop(DisconnectReason.connectionLost)
      await untilNextSocket(h.sockets)
    }
    expect(h.logins).toHaveLength(6)
    expect(session.status()).toBe('STARTING')
    await session.close()
  })

  it('411 (multi-device mismatch) is terminal: FAILED with its reason, no new socket', async () => {
    const h = timedBaileys()
    const session = await h.transport.open(SID, noSink)
    h.sockets.last().open()
    await settle()
    h.sockets.last().drop(DisconnectReason.multideviceMismatch)
    await vi.advanceTimersByTimeAsync(600_000)
    expect(h.sockets.sockets).toHaveLength(1)
    expect(session.status()).toBe('FAILED')
    expect(h.statuses.at(-1)?.detail).toMatch(/411 multi-device mismatch/)
    await session.close()
  })
})
