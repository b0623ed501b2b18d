import { afterEach, describe, expect, it } from 'vitest'
import { fakeBaileys } from '../helpers/fake-wa-socket.js'

/**
 * Issue 24, fault 9: Baileys' `makeCacheableSignalKeyStore` (Utils/auth-utils) makes a `NodeCache`
 * (@cacheable/node-cache) unless given a cache, and each NodeCache starts a `checkperiod` interval (600 s,
 * `setInterval(...).unref()`, dist/index.js `startInterval`) that runs until `close()`. Unref'd, it does
 * not keep the process up, so `process.getActiveResourcesInfo()` does not list it, but it holds the cache
 * and every Signal key in it for ever. A session opened and closed again (every lease move, restart or
 * failover) must leave no interval behind: the test counts the intervals created and not cleared.
 */
const realSetInterval = globalThis.setInterval
const realClearInterval = globalThis.clearInterval
const live = new Set<unknown>()

function trackIntervals(): void {
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    const t = realSetInterval(...args)
    live.add(t)
    return t
  }) as typeof setInterval
  globalThis.clearInterval = ((t?: Parameters<typeof clearInterval>[0]) => {
    live.delete(t)
    realClearInterval(t)
  }) as typeof clearInterval
}
afterEach(() => {
  globalThis.setInterval = realSetInterval
  globalThis.clearInterval = realClearInterval
})

const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

describe('timers per session (issue 24, fault 9)', () => {
  it('opening and closing 500 sessions leaves no interval and no timer behind', async () => {
    trackIntervals()
    const h = fakeBaileys({}, { shareAppStateKey: false })
    const cycle = async (i: number) => {
      const session = await h.transport.open(`leak-${i}`, async () => {})
      h.sockets.last().open()
      await session.close()
    }
    // One round first, so what the process keeps once (Baileys' module state, loggers) is not counted.
    await cycle(-1)
    const intervalsBefore = live.size
    const timersBefore = refTimers()
    // Ten numbers opened and closed 50 times each (their auth is made once: creating creds is slow).
    for (let i = 0; i < 500; i++) await cycle(i % 10)
    expect(live.size - intervalsBefore).toBe(0)
    expect(refTimers() - timersBefore).toBeLessThan(10)
  }, 30_000)
})
