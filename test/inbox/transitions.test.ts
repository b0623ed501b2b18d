import { afterAll, describe, expect, it } from 'vitest'
import { inbound, outbound, pn, T0 } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'

const f = inboxFixture('transitions')
afterAll(() => f.cleanup())

describe('chat transitions', () => {
  it('counts inbound messages as unread and unanswered, and a reply answers them', async () => {
    const chat = pn(1001)
    for (let i = 0; i < 3; i++)
      await f.ingestor.ingest(inbound('s1', chat, { ts: T0 + i * 1000, pushName: 'Maria' }))
    let c = await f.store.getChat('s1', chat)
    expect(c).toMatchObject({
      unreadCount: 3,
      unanswered: 3,
      waitingSince: T0,
      name: 'Maria',
      owner: 'u-anna',
      type: 'dm',
    })
    expect(c?.lastMessage).toMatchObject({
      fromMe: false,
      timestamp: T0 + 2000,
      key: { remoteJid: chat, fromMe: false },
    })

    await f.ingestor.ingest(outbound('s1', chat, { ts: T0 + 5000 }))
    c = await f.store.getChat('s1', chat)
    expect(c).toMatchObject({ unanswered: 0, waitingSince: null, lastOutboundAt: T0 + 5000 })
    // Answering is not reading: WhatsApp's unread count is only cleared by a read.
    expect(c?.unreadCount).toBe(3)
    await f.ingestor.ingest({ type: 'chat.read', sessionId: 's1', chatJid: chat, at: T0 + 6000 })
    expect((await f.store.getChat('s1', chat))?.unreadCount).toBe(0)
  })

  it('reading a chat does not answer it, and a new waiting period gets a new sequence number', async () => {
    const chat = pn(1002)
    await f.ingestor.ingest(inbound('s1', chat, { ts: T0 }))
    const first = await f.store.getChat('s1', chat)
    await f.ingestor.ingest({ type: 'chat.read', sessionId: 's1', chatJid: chat, at: T0 + 10 })
    expect(await f.store.getChat('s1', chat)).toMatchObject({
      unanswered: 1,
      unreadCount: 0,
      waitSeq: first!.waitSeq,
    })
    await f.ingestor.ingest(outbound('s1', chat, { ts: T0 + 20 }))
    await f.ingestor.ingest(inbound('s1', chat, { ts: T0 + 30 }))
    const again = await f.store.getChat('s1', chat)
    expect(again).toMatchObject({ unanswered: 1, waitingSince: T0 + 30, waitSeq: first!.waitSeq + 1 })
  })

  it('a message older than the last answer (late backlog) does not wait for a reply', async () => {
    const chat = pn(1003)
    await f.ingestor.ingest(outbound('s1', chat, { ts: T0 + 100 }))
    await f.ingestor.ingest(inbound('s1', chat, { ts: T0 + 50, delivery: 'backlog' }))
    expect(await f.store.getChat('s1', chat)).toMatchObject({ unanswered: 0, lastInboundAt: T0 + 50 })
  })

  it('bot replies do not answer when the rules say so', async () => {
    const g = inboxFixture('transitions-bot', { botRepliesCount: () => false })
    try {
      const chat = pn(1004)
      await g.ingestor.ingest(inbound('s1', chat, { ts: T0 }))
      await g.ingestor.ingest(outbound('s1', chat, { ts: T0 + 10, origin: 'bot' }))
      expect(await g.store.getChat('s1', chat)).toMatchObject({ unanswered: 1, lastOutboundAt: T0 + 10 })
      await g.ingestor.ingest(outbound('s1', chat, { ts: T0 + 20, origin: 'crm' }))
      expect(await g.store.getChat('s1', chat)).toMatchObject({ unanswered: 0 })
    } finally {
      await g.cleanup()
    }
  })

  it('no-reply-needed clears unanswered; marked-unread sets the reminder dot until read', async () => {
    const chat = pn(1005)
    await f.ingestor.ingest(inbound('s1', chat, { ts: T0 }))
    await f.ingestor.ingest({ type: 'chat.noReplyNeeded', sessionId: 's1', chatJid: chat, at: T0 + 1 })
    await f.ingestor.ingest({ type: 'chat.markedUnread', sessionId: 's1', chatJid: chat, at: T0 + 2 })
    expect(await f.store.getChat('s1', chat)).toMatchObject({ unanswered: 0, markedUnread: true })
    await f.ingestor.ingest({ type: 'chat.read', sessionId: 's1', chatJid: chat, at: T0 + 3 })
    expect(await f.store.getChat('s1', chat)).toMatchObject({ markedUnread: false, unreadCount: 0 })
  })

  it('an owner change moves the unanswered messages between owner totals', async () => {
    const chat = pn(1006)
    const before = await f.store.unansweredOf(['s1'], ['u-anna', 'u-bob'])
    await f.ingestor.ingest(inbound('s1', chat, { ts: T0 }))
    await f.ingestor.ingest(inbound('s1', chat, { ts: T0 + 1 }))
    await f.ingestor.ingest({ type: 'chat.owner', sessionId: 's1', chatJid: chat, owner: 'u-bob' })
    const after = await f.store.unansweredOf(['s1'], ['u-anna', 'u-bob'])
    expect(after.get('u-anna')).toBe(before.get('u-anna'))
    expect(after.get('u-bob')! - before.get('u-bob')!).toBe(2)
    await f.ingestor.ingest({ type: 'chat.owner', sessionId: 's1', chatJid: chat, owner: null })
    expect((await f.store.unansweredOf(['s1'], [null])).get(null)).toBe(2)
  })

  it('a counter reset of the whole session zeroes every chat and every owner total', async () => {
    const g = inboxFixture('transitions-reset')
    try {
      for (let i = 0; i < 20; i++) await g.ingestor.ingest(inbound('s2', pn(2000 + i), { ts: T0 + i }))
      await g.ingestor.ingest({ type: 'counters.reset', sessionId: 's2', at: T0 + 100 })
      const totals = await g.store.ownerTotals('s2')
      expect(totals.size).toBe(0)
      const page = await g.store.overview('s2', { limit: 50, filter: 'unanswered' })
      expect(page.items).toEqual([])
      expect((await g.store.getChat('s2', pn(2005)))?.unanswered).toBe(0)
    } finally {
      await g.cleanup()
    }
  })
})
