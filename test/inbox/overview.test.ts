import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONTACTS_SCANNED_PER_PAGE, CursorError } from '../../src/inbox/store.js'
import { group, inbound, lid, outbound, pn, T0 } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'
import { prng } from '../http/support.js'

const f = inboxFixture('overview')
const CHATS = 500
beforeAll(async () => {
  for (let i = 0; i < CHATS; i++) {
    await f.ingestor.ingest(inbound('s1', pn(7000 + i), { ts: T0 + i * 1000 }))
    if (i % 3 === 0) await f.ingestor.ingest(outbound('s1', pn(7000 + i), { ts: T0 + i * 1000 + 1 }))
  }
})
afterAll(() => f.cleanup())

describe('chats overview', () => {
  it('pages newest first and covers every chat exactly once while chats keep changing', async () => {
    const seen: string[] = []
    let cursor: string | undefined
    let round = 0
    let lastActivity = Number.POSITIVE_INFINITY
    do {
      const page = await f.store.overview('s1', { limit: 37, ...(cursor ? { cursor } : {}) })
      seen.push(...page.items.map((c) => c.jid))
      // Meanwhile customers keep writing: chats from deep pages jump to the top of the live index.
      await Promise.all(
        Array.from({ length: 10 }, (_, k) =>
          f.ingestor.ingest(
            inbound('s1', pn(7000 + ((round * 53 + k * 17) % CHATS)), {
              ts: T0 + 10_000_000 + round * 100 + k,
            }),
          ),
        ),
      )
      if (round === 0) {
        for (const c of page.items) {
          expect(c.lastActivity).toBeLessThanOrEqual(lastActivity)
          lastActivity = c.lastActivity
        }
      }
      cursor = page.nextCursor || undefined
      round++
    } while (cursor)
    expect(seen).toHaveLength(CHATS)
    expect(new Set(seen).size).toBe(CHATS)
  })

  it('filters unanswered and unread chats', async () => {
    const g = inboxFixture('overview-filter')
    try {
      await g.ingestor.ingest(inbound('s1', pn(1), { ts: T0 }))
      await g.ingestor.ingest(inbound('s1', pn(2), { ts: T0 + 1 }))
      await g.ingestor.ingest(outbound('s1', pn(2), { ts: T0 + 2 }))
      await g.ingestor.ingest({ type: 'chat.read', sessionId: 's1', chatJid: pn(1), at: T0 + 3 })
      await g.ingestor.ingest(outbound('s1', pn(3), { ts: T0 + 4 }))
      const unanswered = await g.store.overview('s1', { limit: 10, filter: 'unanswered' })
      expect(unanswered.items.map((c) => c.jid)).toEqual([pn(1)])
      const unread = await g.store.overview('s1', { limit: 10, filter: 'unread' })
      expect(unread.items.map((c) => c.jid)).toEqual([pn(2)])
      const all = await g.store.overview('s1', { limit: 10 })
      expect(all.items.map((c) => c.jid)).toEqual([pn(3), pn(2), pn(1)])
      expect(all.nextCursor).toBe('')
      expect(await g.store.overview('s-empty', { limit: 10 })).toEqual({ items: [], nextCursor: '' })
    } finally {
      await g.cleanup()
    }
  })

  it('rejects a forged, expired or borrowed cursor with a precise message', async () => {
    await expect(f.store.overview('s1', { limit: 5, cursor: 'not-a-cursor' })).rejects.toThrow(
      new CursorError('cursor is not one this API issued; start again without a cursor'),
    )
    const { nextCursor } = await f.store.overview('s1', { limit: 5 })
    const text = Buffer.from(nextCursor, 'base64url').toString()
    const reissue = (t: string) => Buffer.from(t).toString('base64url')
    // The cursor's page time is Redis' clock; one from more than 5 minutes ago has expired.
    const parts = text.split('|')
    parts[5] = String(Number(parts[5]) - 300_001)
    await expect(f.store.overview('s1', { limit: 5, cursor: reissue(parts.join('|')) })).rejects.toThrow(
      /^cursor expired: it is valid for 5 minutes after the page that issued it/,
    )
    await expect(f.store.overview('s2', { limit: 5, cursor: nextCursor })).rejects.toThrow(
      'cursor was issued for another session, not s2',
    )
    await expect(f.store.overview('s1', { limit: 5, cursor: nextCursor, filter: 'unread' })).rejects.toThrow(
      'cursor was issued for no filter, not filter=unread; keep the filter while paging',
    )
    // Stray characters the base64url decoder would skip do not make a cursor.
    await expect(f.store.overview('s1', { limit: 5, cursor: `${nextCursor}!` })).rejects.toBeInstanceOf(
      CursorError,
    )
  })

  it('keeps no state for a read: first pages with limit=1 leave the key count and memory as they were', async () => {
    const g = inboxFixture('overview-stateless')
    try {
      for (let i = 0; i < 30; i++) await g.ingestor.ingest(inbound('s1', pn(8000 + i), { ts: T0 + i }))
      const before = await prefixFootprint(g)
      for (let i = 0; i < 300; i++) {
        const page = await g.store.overview('s1', {
          limit: 1,
          ...(i % 3 ? { filter: i % 3 === 1 ? 'unread' : 'unanswered' } : {}),
        })
        expect(page.items).toHaveLength(1)
        expect(page.nextCursor).not.toBe('')
      }
      expect(await prefixFootprint(g)).toEqual(before)
    } finally {
      await g.cleanup()
    }
  })

  it('returns every chat exactly once while chats rise past the cursor, tie on score and rise twice between pages', async () => {
    const g = inboxFixture('overview-moves')
    const R = prng(0x0c0ffee)
    const N = 150
    try {
      // Seven distinct scores for 150 chats: most positions are decided by the jid (the tie-break).
      for (let i = 0; i < N; i++) await g.ingestor.ingest(inbound('s1', pn(9000 + i), { ts: T0 + (i % 7) }))
      let ts = T0 + 100
      const seen: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await g.store.overview('s1', { limit: 1 + R.int(9), ...(cursor ? { cursor } : {}) })
        seen.push(...page.items.map((c) => c.jid))
        // Between pages: chats rise, some to the top, some a little (staying below or just passing the
        // cursor), some several times; now and then a new chat appears.
        for (let k = R.int(12); k > 0; k--) {
          const jid = pn(9000 + R.int(N))
          const chat = await g.store.getChat('s1', jid)
          const rise = R.chance(0.5) ? ++ts : chat!.lastActivity + 1 + R.int(3)
          await g.ingestor.ingest(inbound('s1', jid, { ts: rise }))
        }
        if (R.chance(0.1)) await g.ingestor.ingest(inbound('s1', pn(50_000 + pages), { ts: T0 + R.int(7) }))
        cursor = page.nextCursor || undefined
        pages++
      } while (cursor)
      expect(new Set(seen).size).toBe(seen.length)
      const original = Array.from({ length: N }, (_, i) => pn(9000 + i))
      expect(original.filter((j) => !seen.includes(j))).toEqual([])
      expect(pages).toBeGreaterThan(20)
    } finally {
      await g.cleanup()
    }
  })

  it('pages a filter once per chat while chats enter and leave it', async () => {
    const g = inboxFixture('overview-filter-moves')
    const N = 60
    try {
      for (let i = 0; i < N; i++) await g.ingestor.ingest(inbound('s1', pn(9100 + i), { ts: T0 + i }))
      let ts = T0 + 1000
      const seen: string[] = []
      const answered = new Set<string>()
      let cursor: string | undefined
      let round = 0
      do {
        const page = await g.store.overview('s1', {
          limit: 4,
          filter: 'unanswered',
          ...(cursor ? { cursor } : {}),
        })
        for (const c of page.items) expect(c.unanswered).toBeGreaterThan(0)
        seen.push(...page.items.map((c) => c.jid))
        // A deep chat gets answered (leaves the filter), another writes again (rises to the top).
        const answer = pn(9100 + ((round * 7) % N))
        await g.ingestor.ingest(outbound('s1', answer, { ts: ++ts }))
        answered.add(answer)
        await g.ingestor.ingest(inbound('s1', pn(9100 + ((round * 11 + 3) % N)), { ts: ++ts }))
        cursor = page.nextCursor || undefined
        round++
      } while (cursor)
      expect(new Set(seen).size).toBe(seen.length)
      // Every chat that waited for an answer the whole time was listed.
      const waitedThroughout = Array.from({ length: N }, (_, i) => pn(9100 + i)).filter(
        (j) => !answered.has(j),
      )
      expect(waitedThroughout.filter((j) => !seen.includes(j))).toEqual([])
    } finally {
      await g.cleanup()
    }
  })
})

/** The prefix's key count and the memory its keys take (MEMORY USAGE, all samples). */
async function prefixFootprint(g: { redis: Redis; prefix: string }) {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await g.redis.scan(cursor, 'MATCH', `${g.prefix}:*`, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  let bytes = 0
  for (const key of keys) bytes += (await g.redis.memory('USAGE', key, 'SAMPLES', 0)) ?? 0
  return { keys: keys.length, bytes }
}

describe('contacts', () => {
  it('lists the people seen in DMs and groups, one record per person, with combinable filters', async () => {
    const g = inboxFixture('contacts')
    try {
      await g.ingestor.ingest(inbound('s1', pn(4911), { pushName: 'Maria Lopez' }))
      await g.ingestor.ingest(inbound('s1', lid(77), { alt: pn(4922), pushName: 'Jonas' }))
      await g.ingestor.ingest(inbound('s1', group(5), { participant: pn(4911), pushName: 'Maria Lopez' }))
      await g.ingestor.ingest(inbound('s1', group(5), { participant: lid(88), pushName: 'Ute' }))
      await g.ingestor.ingest({ type: 'lid.mapping', sessionId: 's1', lid: lid(88), pn: pn(4933) })
      const all = await g.store.contacts('s1', { limit: 50 })
      expect(all.items.map((c) => c.name).sort()).toEqual(['Jonas', 'Maria Lopez', 'Ute'])
      const ute = all.items.find((c) => c.name === 'Ute')!
      expect(ute).toMatchObject({
        lid: lid(88),
        phone: pn(4933).split('@')[0],
        dm: false,
        groups: [group(5)],
      })
      const dm = await g.store.contacts('s1', { limit: 50, source: 'dm' })
      expect(dm.items.map((c) => c.name).sort()).toEqual(['Jonas', 'Maria Lopez'])
      const inGroupNamedMa = await g.store.contacts('s1', {
        limit: 50,
        source: 'group',
        group: group(5),
        q: 'MARIA',
      })
      expect(inGroupNamedMa.items.map((c) => c.name)).toEqual(['Maria Lopez'])
      const byNumber = await g.store.contacts('s1', { limit: 50, q: '4922' })
      expect(byNumber.items.map((c) => c.name)).toEqual(['Jonas'])
      // Paging one at a time visits all three exactly once.
      const names: string[] = []
      let cursor: string | undefined
      do {
        const page = await g.store.contacts('s1', { limit: 1, ...(cursor ? { cursor } : {}) })
        names.push(...page.items.map((c) => c.name ?? ''))
        cursor = page.nextCursor || undefined
      } while (cursor)
      expect(names.sort()).toEqual(['Jonas', 'Maria Lopez', 'Ute'])
    } finally {
      await g.cleanup()
    }
  })

  it('bounds the work of one request: a search that matches nothing answers after 1,000 records, with a cursor', async () => {
    const g = inboxFixture('contacts-bounded')
    const N = 2_500
    try {
      for (let i = 0; i < N; i++) {
        await g.store.upsertContact('s1', {
          jid: pn(600_000 + i),
          pushName: i === N - 1 ? 'Needle' : 'Hay',
          dm: true,
        })
      }
      const first = await g.store.contacts('s1', { limit: 50, q: 'needle' })
      expect(first.items).toEqual([])
      expect(first.nextCursor).not.toBe('')
      const found: string[] = []
      let cursor: string | undefined = first.nextCursor
      let requests = 1
      while (cursor) {
        const page = await g.store.contacts('s1', { limit: 50, q: 'needle', cursor })
        found.push(...page.items.map((c) => c.name ?? ''))
        cursor = page.nextCursor || undefined
        requests++
      }
      expect(found).toEqual(['Needle'])
      expect(requests).toBe(Math.ceil(N / CONTACTS_SCANNED_PER_PAGE))
    } finally {
      await g.cleanup()
    }
  })
})
