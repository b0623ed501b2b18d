import type { CacheStore } from '@whiskeysockets/baileys'
import type { Clock } from '../../clock.js'

/**
 * A Baileys `CacheStore` with a TTL and a bounded size (oldest dropped first), on our clock and WITHOUT a
 * timer: entries expire when read. Baileys' default, @cacheable/node-cache, runs a `checkperiod` interval
 * per cache until `close()`, which nothing in Baileys calls for the caches it makes.
 */
export class TtlCache implements CacheStore {
  private readonly entries = new Map<string, { value: unknown; expiresAt: number }>()

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 60 * 60 * 1000,
    private readonly maxEntries = 10_000,
  ) {}

  get<T>(key: string): T | undefined {
    const e = this.entries.get(key)
    if (!e) return undefined
    if (e.expiresAt <= this.clock.now()) {
      this.entries.delete(key)
      return undefined
    }
    return e.value as T
  }

  set<T>(key: string, value: T): boolean {
    this.entries.delete(key)
    this.entries.set(key, { value, expiresAt: this.clock.now() + this.ttlMs })
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
    return true
  }

  del(key: string): boolean {
    return this.entries.delete(key)
  }

  flushAll(): void {
    this.entries.clear()
  }
}

/**
 * Baileys' `msgRetryCounterCache`: how often each message was asked to be re-sent (Socket/messages-recv
 * `willSendMessageAgain`, capped by `maxMsgRetryCount`). Baileys makes a fresh cache per socket unless
 * given one, so every reconnect would forget the counts; one of these lives per session instead, across
 * its sockets. Entries expire after Baileys' own MSG_RETRY TTL (1 h, Defaults `DEFAULT_CACHE_TTLS`).
 */
export class RetryCounterCache extends TtlCache {}

/**
 * The cache in front of a session's Signal key store (`makeCacheableSignalKeyStore`'s third argument):
 * Baileys' SIGNAL_STORE TTL (5 min, Defaults `DEFAULT_CACHE_TTLS`), no interval timer (issue 24, fault 9).
 */
export function signalKeyCache(clock: Clock): TtlCache {
  return new TtlCache(clock, 5 * 60 * 1000, 50_000)
}
