import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CursorError } from '../../src/inbox/store.js'
import { group, inbound, lid, outbound, pn, T0 } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'

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

  it('rejects a forged or expired cursor clearly', async () => {
    await expect(f.store.overview('s1', { limit: 5, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(
      CursorError,
    )
    const forged = Buffer.from('o.AAAAAAAAAAAA.5').toString('base64url')
    await expect(f.store.overview('s1', { limit: 5, cursor: forged })).rejects.toThrow(/expired or unknown/)
  })
})

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
})
