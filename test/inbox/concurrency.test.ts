import { afterAll, describe, expect, it } from 'vitest'
import { messageEventSchema } from '../../src/domain/events.js'
import { InboxStore } from '../../src/inbox/store.js'
import { group, inbound, lid, outbound, pn, T0 } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'
import { dumpPrefix, testRedis } from '../helpers/redis.js'

const f = inboxFixture('concurrency')
afterAll(() => f.cleanup())

describe('atomic, idempotent transitions', () => {
  it('1,000 concurrent transitions on one chat leave exact counts', async () => {
    const chat = pn(3001)
    // 600 customer messages at T0+1..T0+600, 300 of them delivered twice, one reply at T0+250.5 and
    // 99 reads racing them. Whatever the interleaving, the messages after the reply are what waits.
    const messages = Array.from({ length: 600 }, (_, i) =>
      inbound('s1', chat, { ts: T0 + i + 1, id: `IN${i}` }),
    )
    const duplicates = messages.slice(0, 300)
    const reply = outbound('s1', chat, { ts: T0 + 250, id: 'OUT1' })
    const reads = Array.from(
      { length: 99 },
      () => ({ type: 'chat.read', sessionId: 's1', chatJid: chat, at: T0 }) as const,
    )
    const all = [...messages, ...duplicates, reply, ...reads]
    expect(all).toHaveLength(1000)
    // Shuffle deterministically, then fire everything at once over a pool of connections.
    all.sort((a, b) => hash(JSON.stringify(a)) - hash(JSON.stringify(b)))
    const results = await Promise.all(all.map((e) => f.ingestor.ingest(e)))
    expect(results.every((r) => r.ok)).toBe(true)

    const c = await f.store.getChat('s1', chat)
    expect(c).toMatchObject({ unanswered: 350, waitingSince: T0 + 251, unreadCount: 600 })
    expect((await f.store.unansweredOf(['s1'], ['u-anna'])).get('u-anna')).toBe(350)
    expect((await f.store.ownerTotals('s1')).get('u-anna')).toEqual({ messages: 350, chats: 1 })
    const duplicatesSeen = results.filter((r) => r.ok && r.transition?.duplicate).length
    expect(duplicatesSeen).toBe(300)
  })

  it('concurrent writers over many connections agree with the sequential truth', async () => {
    const g = testRedis('concurrency-multi')
    const stores = Array.from({ length: 4 }, () => new InboxStore(g.redis.duplicate(), g.keys))
    try {
      const chat = pn(3002)
      const ops = Array.from({ length: 400 }, (_, i) => i)
      await Promise.all(
        ops.map((i) =>
          stores[i % 4]!.applyMessage(
            messageEventSchema.parse(inbound('s9', chat, { ts: T0 + i, id: `M${i % 200}` })),
            { countsAsAnswer: false, defaultOwner: 'u-x', now: T0 },
          ),
        ),
      )
      expect(await stores[0]!.getChat('s9', chat)).toMatchObject({ unanswered: 200, unreadCount: 200 })
    } finally {
      await g.cleanup()
    }
  })

  it('a replayed backlog changes nothing', async () => {
    const g = inboxFixture('concurrency-replay')
    try {
      const events = [
        inbound('s1', pn(4001), { ts: T0, pushName: 'Ana' }),
        inbound('s1', pn(4001), { ts: T0 + 1 }),
        outbound('s1', pn(4001), { ts: T0 + 2 }),
        inbound('s1', pn(4002), { ts: T0 + 3 }),
        inbound('s1', group(1), { ts: T0 + 4, participant: pn(4003), pushName: 'Bo' }),
        inbound('s1', group(1), { ts: T0 + 5, participant: lid(4004) }),
        outbound('s1', group(1), { ts: T0 + 6 }),
        inbound('s1', lid(4005), { ts: T0 + 7, alt: pn(4005) }),
      ]
      for (const e of events) await g.ingestor.ingest(e)
      const before = await dumpPrefix(g.redis, g.prefix)
      for (const e of events) {
        const replay = { ...e, delivery: 'backlog' as const }
        const r = await g.ingestor.ingest(replay)
        expect(r.ok && r.transition?.duplicate).toBe(true)
      }
      expect(await dumpPrefix(g.redis, g.prefix)).toEqual(before)
    } finally {
      await g.cleanup()
    }
  })
})

describe('LID and phone-number forms are one chat', () => {
  it('an inbound LID message with its phone alt and a reply from the phone land in one chat', async () => {
    const l = lid(5001)
    const p = pn(5001)
    await f.ingestor.ingest(inbound('s1', l, { ts: T0, alt: p }))
    await f.ingestor.ingest(outbound('s1', p, { ts: T0 + 10 }))
    const byLid = await f.store.getChat('s1', l)
    const byPn = await f.store.getChat('s1', p)
    expect(byLid?.jid).toBe(l)
    expect(byPn?.jid).toBe(l)
    expect(byLid).toMatchObject({ altJid: p, unanswered: 0, lastOutboundAt: T0 + 10 })
  })

  it('a mapping learned first joins later messages in either form', async () => {
    const l = lid(5002)
    const p = pn(5002)
    await f.ingestor.ingest({ type: 'lid.mapping', sessionId: 's1', lid: l, pn: p })
    await f.ingestor.ingest(inbound('s1', p, { ts: T0 }))
    await f.ingestor.ingest(inbound('s1', l, { ts: T0 + 1 }))
    const c = await f.store.getChat('s1', l)
    expect(c).toMatchObject({ jid: p, altJid: l, unanswered: 2 })
  })

  it('two chats created before the mapping was known are merged into one', async () => {
    const g = inboxFixture('concurrency-merge')
    try {
      const l = lid(5003)
      const p = pn(5003)
      await g.ingestor.ingest(inbound('s1', l, { ts: T0, id: 'A1' }))
      await g.ingestor.ingest(inbound('s1', l, { ts: T0 + 1, id: 'A2' }))
      await g.ingestor.ingest(outbound('s1', p, { ts: T0 + 5, id: 'B1' }))
      await g.ingestor.ingest(inbound('s1', p, { ts: T0 + 9, id: 'B2' }))
      expect(await g.store.countChats('s1')).toBe(2)
      await g.ingestor.ingest({ type: 'lid.mapping', sessionId: 's1', lid: l, pn: p })
      expect(await g.store.countChats('s1')).toBe(1)
      const c = await g.store.getChat('s1', p)
      // The reply at T0+5 answered both LID messages; only B2 waits.
      expect(c).toMatchObject({ jid: l, altJid: p, unanswered: 1, waitingSince: T0 + 9, unreadCount: 3 })
      expect(await g.store.ownerTotals('s1')).toEqual(new Map([['u-anna', { messages: 1, chats: 1 }]]))
      // A replay of a message first seen under the other form is still a duplicate.
      const r = await g.ingestor.ingest(inbound('s1', p, { ts: T0 + 9, id: 'B2' }))
      expect(r.ok && r.transition?.duplicate).toBe(true)
    } finally {
      await g.cleanup()
    }
  })
})

function hash(s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}
