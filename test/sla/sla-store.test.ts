import { afterAll, describe, expect, it } from 'vitest'
import { type SlaClock, SlaStore } from '../../src/sla/sla-store.js'
import { pn, T0 } from '../helpers/events.js'
import { testRedis } from '../helpers/redis.js'

/**
 * Issue 18: an open SLA clock is one small hash. Redis keeps it as a compact listpack only while every
 * value fits `hash-max-listpack-value` (64 bytes); the levels as JSON did not, and the clock took twice
 * the memory as a hash table.
 */
const r = testRedis('sla-store')
const store = new SlaStore(r.redis, r.keys)
afterAll(() => r.cleanup())

const DAY = 86_400_000
const clock = (chatJid: string, levels: number): SlaClock => ({
  sessionId: 's1',
  chatJid,
  policyId: 'vip-business-hours',
  waitSeq: 7,
  waitingSince: T0,
  kind: 'first',
  deadline: T0 + 2 * DAY,
  // Business hours push the later levels days ahead.
  levels: Array.from({ length: levels }, (_, i) => ({ level: i, dueAt: T0 + (i + 1) * 1.5 * DAY + 123 })),
  state: 'ok',
})

describe('SLA clock record', () => {
  it('a five-level clock due days ahead is stored compactly and reads back the same', async () => {
    const c = clock(pn(1), 5)
    await store.open(c)
    expect(await r.redis.object('ENCODING', r.keys.slaClock('s1', c.chatJid))).toBe('listpack')
    expect(await store.get('s1', c.chatJid)).toEqual(c)
  })

  it('reads a clock opened before the compact form (levels as JSON)', async () => {
    const c = clock(pn(2), 3)
    await store.open(c)
    await r.redis.hset(r.keys.slaClock('s1', c.chatJid), 'levels', JSON.stringify(c.levels))
    expect(await store.get('s1', c.chatJid)).toEqual(c)
  })

  it('a clock with no levels left reads as none', async () => {
    const c = clock(pn(3), 0)
    await store.open(c)
    expect((await store.get('s1', c.chatJid))?.levels).toEqual([])
  })
})
