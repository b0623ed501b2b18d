import { afterAll, describe, expect, it } from 'vitest'
import { countWords, extendDue, mulberry32, readingTimeMs } from '../../src/receipts/delay-model.js'
import { type PendingEntry, ReceiptStore } from '../../src/receipts/receipt-store.js'
import { rulesSchema } from '../../src/rules/schema.js'
import { pn, T0 } from '../helpers/events.js'
import { testRedis } from '../helpers/redis.js'

const r = testRedis('receipt-store')
const store = new ReceiptStore(r.redis, r.keys)
const params = rulesSchema.parse({ version: 1, orgs: [{ id: 'o' }] }).seen.defaults.delay
afterAll(() => r.cleanup())

const entry = (id: string, ts = T0, text = 'hello there'): PendingEntry => ({
  key: { remoteJid: pn(1), fromMe: false, id },
  timestamp: ts,
  arrivedAt: ts,
  words: countWords(text),
})

describe('receipt batches in Redis', () => {
  it('moves the due time exactly as the delay model says (Lua and TypeScript agree)', async () => {
    const rand = mulberry32(7)
    for (let chat = 0; chat < 50; chat++) {
      const jid = pn(9000 + chat)
      let now = T0
      const first = await store.enqueue('s', jid, entry(`F${chat}`), {
        now,
        firstDelayMs: 1500,
        extendMs: 0,
        maxMs: params.max,
        schedule: true,
      })
      expect(first).toMatchObject({ kind: 'new', dueAt: now + 1500 })
      let due = now + 1500
      const clampAt = now + params.max
      for (let i = 0; i < 8; i++) {
        now += Math.floor(rand() * 4000)
        const text = 'word '.repeat(Math.floor(rand() * 120))
        const extendMs = Math.round(readingTimeMs({ text }, params) * (1 - params.batchDiscount))
        const got = await store.enqueue('s', jid, entry(`M${chat}-${i}`, now, text), {
          now,
          firstDelayMs: 0,
          extendMs,
          maxMs: params.max,
          schedule: true,
        })
        const expected = extendDue({ currentDueAt: due, clampAt, now, message: { text }, params })
        expect(got).toMatchObject({ kind: 'moved', dueAt: expected })
        due = expected
      }
    }
  })

  it('never receipts a message twice, whether the job is retried or duplicated', async () => {
    const jid = pn(9100)
    const r1 = await store.enqueue('s', jid, entry('A'), {
      now: T0,
      firstDelayMs: 1000,
      extendMs: 0,
      maxMs: 20_000,
      schedule: true,
    })
    await store.enqueue('s', jid, entry('B', T0 + 1), {
      now: T0,
      firstDelayMs: 1000,
      extendMs: 0,
      maxMs: 20_000,
      schedule: true,
    })
    expect(r1).toMatchObject({ kind: 'new', gen: 1, dueAt: T0 + 1000 })
    const ids = (c: Awaited<ReturnType<typeof store.claim>>) =>
      'entries' in c ? c.entries.map((e) => e.key.id) : `later ${c.laterAt - T0}`
    // A job that runs before its due time (BullMQ promoted it before a message moved the due) waits.
    expect(ids(await store.claim('s', jid, 1, T0 + 500))).toBe('later 1000')
    expect(ids(await store.claim('s', jid, 1, T0 + 1000))).toEqual(['A', 'B'])
    // A message after the claim opens the next batch…
    expect(
      await store.enqueue('s', jid, entry('C', T0 + 3000), {
        now: T0 + 3000,
        firstDelayMs: 900,
        extendMs: 0,
        maxMs: 20_000,
        schedule: true,
      }),
    ).toEqual({ kind: 'new', gen: 2, dueAt: T0 + 3900 })
    // …and a retry of batch 1 still sends exactly A and B, never C early.
    expect(ids(await store.claim('s', jid, 1, T0 + 3001))).toEqual(['A', 'B'])
    await store.done('s', jid, ['A', 'B'], T0 + 3002)
    // After the receipt was recorded, a retry or duplicate of batch 1 sends nothing; a replay of A does not re-enter.
    expect(ids(await store.claim('s', jid, 1, T0 + 3003))).toEqual([])
    expect(
      await store.enqueue('s', jid, entry('A'), {
        now: T0 + 3004,
        firstDelayMs: 1000,
        extendMs: 0,
        maxMs: 20_000,
        schedule: true,
      }),
    ).toMatchObject({ kind: 'duplicate' })
    expect(ids(await store.claim('s', jid, 2, T0 + 3900))).toEqual(['C'])
  })

  it('after the receipt the batch bookkeeping is small again (issue 18: a compact listpack meta hash)', async () => {
    const jid = pn(9300)
    const plan = { now: T0, firstDelayMs: 1000, extendMs: 0, maxMs: 20_000, schedule: true }
    // Ids as long as WhatsApp's: a claim of a few of them, kept as JSON, no longer fits a listpack value.
    const idsOf = ['A', 'B', 'C', 'D'].map((x) => `3EB0${x.repeat(16)}`)
    for (const id of idsOf) await store.enqueue('s', jid, entry(id), plan)
    const claim = await store.claim('s', jid, 1, T0 + 1000)
    expect('entries' in claim && claim.entries).toHaveLength(4)
    // Only some were receipted (the rest is what a retry of the same job still owes)…
    await store.done('s', jid, idsOf.slice(0, 2), T0 + 1001)
    const retry = await store.claim('s', jid, 1, T0 + 1002)
    // (In the batch hash's order, which Redis does not promise once the hash is a table.)
    expect('entries' in retry && retry.entries.map((e) => e.key.id).sort()).toEqual(idsOf.slice(2))
    // …then the rest: nothing is owed, and the meta hash is compact again.
    await store.done('s', jid, idsOf.slice(2), T0 + 1003)
    expect(await store.claim('s', jid, 1, T0 + 1004)).toEqual({ dueAt: T0 + 1000, entries: [] })
    expect(await r.redis.object('ENCODING', r.keys.seenMeta('s', jid))).toBe('listpack')
  })

  it('cancels everything waiting when the chat is read elsewhere', async () => {
    const jid = pn(9200)
    await store.enqueue('s', jid, entry('X'), {
      now: T0,
      firstDelayMs: 1000,
      extendMs: 0,
      maxMs: 20_000,
      schedule: true,
    })
    await store.enqueue('s', jid, entry('Y'), {
      now: T0,
      firstDelayMs: 1000,
      extendMs: 0,
      maxMs: 20_000,
      schedule: false,
    })
    expect(await store.cancel('s', jid)).toBe(1)
    expect(await store.pending('s', jid)).toEqual([])
    expect(await store.cancel('s', jid)).toBeNull()
  })
})
