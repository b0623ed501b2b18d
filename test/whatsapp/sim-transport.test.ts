import { pino } from 'pino'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { MessageKey } from '../../src/domain/events.js'
import type { IngestOutcome } from '../../src/inbox/ingest.js'
import type { ChatRef, WhatsAppSession } from '../../src/whatsapp/port.js'
import { SessionNotLiveError } from '../../src/whatsapp/port.js'
import { SimNetwork } from '../../src/whatsapp/sim/network.js'
import { SimTransport } from '../../src/whatsapp/sim/transport.js'
import { T0 } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'

const f = inboxFixture('sim-transport')
const network = new SimNetwork(f.redis, f.keys, f.clock)
const transport = new SimTransport({
  redis: f.redis,
  keys: f.keys,
  network,
  log: pino({ level: 'silent' }),
  blockMs: 100,
})

// Jids of real WhatsApp shapes, distinct per number.
const pn = (n: number) => `49${String(1_500_000_000 + n)}@s.whatsapp.net`
const lid = (n: number) => `${String(200_000_000_000_000 + n)}@lid`
const grp = (n: number) => `120363${String(n).padStart(12, '0')}@g.us`

const opened: WhatsAppSession[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()))
})
afterAll(() => f.cleanup())

interface Delivery {
  raw: unknown
  outcome: IngestOutcome
}

/**
 * A sink feeding the real ingestor that remembers every delivery and lets a test await the one it
 * expects (no sleeps). `gate`, when set, holds the delivery it matches until released.
 */
function recordingSink() {
  const deliveries: Delivery[] = []
  const waiters: Array<{ match: (d: Delivery) => boolean; resolve: (d: Delivery) => void }> = []
  const state: { gate?: { match: (raw: unknown) => boolean; open: Promise<void>; reached: () => void } } = {}
  const sink = async (raw: unknown): Promise<void> => {
    const gate = state.gate
    if (gate?.match(raw)) {
      gate.reached()
      await gate.open
    }
    const d = { raw, outcome: await f.ingestor.ingest(raw) }
    deliveries.push(d)
    for (const w of [...waiters]) {
      if (w.match(d)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(d)
      }
    }
  }
  /** Resolves with the first delivery (past or future) that matches; fails after 5 s instead of hanging. */
  const until = (match: (d: Delivery) => boolean, what: string): Promise<Delivery> => {
    const seen = deliveries.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5000)
      waiters.push({
        match,
        resolve: (d) => {
          clearTimeout(timer)
          resolve(d)
        },
      })
    })
  }
  const messageId = (d: Delivery): string | undefined => (d.raw as { key?: { id?: string } } | null)?.key?.id
  const untilMessage = (id: string) => until((d) => messageId(d) === id, `message ${id}`)
  /** Holds the next delivery that matches until the returned `release` is called. */
  const hold = (match: (raw: unknown) => boolean) => {
    let release!: () => void
    let reached!: () => void
    const open = new Promise<void>((r) => {
      release = r
    })
    const arrived = new Promise<void>((r) => {
      reached = r
    })
    state.gate = { match, open, reached }
    return { arrived, release }
  }
  return { sink, deliveries, until, untilMessage, messageId, hold }
}

async function open(sessionId: string, sink: (e: unknown) => Promise<void>): Promise<WhatsAppSession> {
  const s = await transport.open(sessionId, sink)
  opened.push(s)
  return s
}

async function closeSession(s: WhatsAppSession): Promise<void> {
  opened.splice(opened.indexOf(s), 1)
  await s.close()
}

describe('sim transport → ingestor → inbox state', () => {
  it('delivers an injected message into the inbox state', async () => {
    const r = recordingSink()
    const session = await open('s-deliver', r.sink)
    expect(session.status()).toBe('WORKING')
    const chat = pn(1)
    const applied = new Promise<{ jid: string; unanswered: number; created: boolean }>((resolve) => {
      const off = f.ingestor.onApplied((e, t) => {
        if (e.sessionId === 's-deliver' && e.type === 'message' && t) {
          off()
          resolve(t)
        }
      })
    })
    const event = await network.injectMessage('s-deliver', {
      chatId: chat,
      text: 'Hola, ¿tienen la talla M?',
      pushName: 'Lucía',
      id: 'SIMDELIVER1',
      timestamp: T0 + 1000,
    })
    expect(event).toMatchObject({
      type: 'message',
      sessionId: 's-deliver',
      origin: 'customer',
      delivery: 'live',
    })
    expect(await applied).toMatchObject({ jid: chat, unanswered: 1, created: true })
    await r.untilMessage('SIMDELIVER1')
    expect(r.deliveries.map((d) => d.raw)).toEqual([event])
    const c = await f.store.getChat('s-deliver', chat)
    expect(c).toMatchObject({
      jid: chat,
      type: 'dm',
      name: 'Lucía',
      unreadCount: 1,
      unanswered: 1,
      waitingSince: T0 + 1000,
      lastInboundAt: T0 + 1000,
      owner: 'u-anna',
      lastMessage: {
        id: 'SIMDELIVER1',
        fromMe: false,
        preview: 'Hola, ¿tienen la talla M?',
        timestamp: T0 + 1000,
        key: { remoteJid: chat, fromMe: false, id: 'SIMDELIVER1' },
      },
    })

    // An outbound message from the phone answers it, through the same path.
    await network.injectMessage('s-deliver', {
      chatId: chat,
      fromMe: true,
      text: 'Sí',
      id: 'SIMDELIVER2',
      timestamp: T0 + 2000,
    })
    const reply = await r.untilMessage('SIMDELIVER2')
    expect(reply.raw).toMatchObject({ origin: 'phone', key: { fromMe: true } })
    expect(await f.store.getChat('s-deliver', chat)).toMatchObject({
      unanswered: 0,
      lastOutboundAt: T0 + 2000,
    })
  })

  it('keeps the order of 200 messages of one session', async () => {
    const r = recordingSink()
    await open('s-order', r.sink)
    const ids = Array.from({ length: 200 }, (_, i) => `ORDER${String(i).padStart(3, '0')}`)
    // Spread over a few chats, timestamps deliberately not increasing, so only delivery order is tested.
    for (const [i, id] of ids.entries()) {
      await network.injectMessage('s-order', {
        chatId: pn(100 + (i % 7)),
        text: `message ${i}`,
        id,
        timestamp: T0 + ((i * 37) % 200),
      })
    }
    await r.untilMessage(ids[199]!)
    expect(r.deliveries.map(r.messageId)).toEqual(ids)
    expect(r.deliveries.every((d) => d.outcome.ok && !d.outcome.transition?.duplicate)).toBe(true)
    const totals = await f.store.ownerTotals('s-order')
    expect(totals.get('u-anna')).toEqual({ messages: 200, chats: 7 })
  })

  it('resumes after close from the stored offset without re-applying anything', async () => {
    const sid = 's-resume'
    const chat = pn(200)
    const first = recordingSink()
    const s1 = await open(sid, first.sink)
    for (let i = 0; i < 5; i++) {
      await network.injectMessage(sid, {
        chatId: chat,
        text: `before ${i}`,
        id: `RESUME${i}`,
        timestamp: T0 + i,
      })
    }
    await first.untilMessage('RESUME4')
    await closeSession(s1)
    expect(s1.status()).toBe('STOPPED')
    const before = await f.store.getChat(sid, chat)
    expect(before).toMatchObject({ unanswered: 5, unreadCount: 5 })

    // Sent while the session was down: delivered once it is back.
    await network.injectMessage(sid, { chatId: chat, text: 'while down', id: 'RESUME5', timestamp: T0 + 5 })
    const second = recordingSink()
    const applied: string[] = []
    const off = f.ingestor.onApplied((e) => {
      if (e.sessionId === sid && e.type === 'message') applied.push(e.key.id)
    })
    try {
      await open(sid, second.sink)
      await second.untilMessage('RESUME5')
      await network.injectMessage(sid, { chatId: chat, text: 'after', id: 'RESUME6', timestamp: T0 + 6 })
      await second.untilMessage('RESUME6')
    } finally {
      off()
    }
    const redelivered = second.deliveries
      .map(second.messageId)
      .filter((id) => id !== 'RESUME5' && id !== 'RESUME6')
    // At most the last event handled before the close comes again, and then it changes nothing.
    expect(redelivered.length === 0 || (redelivered.length === 1 && redelivered[0] === 'RESUME4')).toBe(true)
    for (const d of second.deliveries.filter((d) => redelivered.includes(second.messageId(d)!))) {
      expect(d.outcome.ok && d.outcome.transition?.duplicate).toBe(true)
    }
    expect(applied).toEqual(['RESUME5', 'RESUME6'])
    expect(await f.store.getChat(sid, chat)).toEqual({
      ...before,
      unanswered: 7,
      unreadCount: 7,
      lastInboundAt: T0 + 6,
      lastActivity: T0 + 6,
      lastMessage: {
        ...before!.lastMessage!,
        id: 'RESUME6',
        preview: 'after',
        timestamp: T0 + 6,
        key: { remoteJid: chat, fromMe: false, id: 'RESUME6' },
      },
    })
  })

  it('finishes the event in flight on close, and its redelivery after reopening is a duplicate', async () => {
    const sid = 's-inflight'
    const chat = pn(300)
    const first = recordingSink()
    const held = first.hold((raw) => (raw as { key?: { id?: string } }).key?.id === 'FLIGHT1')
    const s1 = await open(sid, first.sink)
    await network.injectMessage(sid, { chatId: chat, text: 'one', id: 'FLIGHT0', timestamp: T0 })
    await network.injectMessage(sid, { chatId: chat, text: 'two', id: 'FLIGHT1', timestamp: T0 + 1 })
    await network.injectMessage(sid, { chatId: chat, text: 'three', id: 'FLIGHT2', timestamp: T0 + 2 })
    await held.arrived
    let closed = false
    const closing = s1.close().then(() => {
      closed = true
    })
    opened.splice(opened.indexOf(s1), 1)
    // close() waits for the event being handled.
    await new Promise((r) => setImmediate(r))
    expect(closed).toBe(false)
    held.release()
    await closing
    expect(first.deliveries.map(first.messageId)).toEqual(['FLIGHT0', 'FLIGHT1'])
    const before = await f.store.getChat(sid, chat)
    expect(before).toMatchObject({ unanswered: 2 })

    const second = recordingSink()
    await open(sid, second.sink)
    await second.untilMessage('FLIGHT2')
    const ids = second.deliveries.map(second.messageId)
    expect(ids.at(-1)).toBe('FLIGHT2')
    // Whether or not FLIGHT1's offset was stored, nothing before it comes back, and FLIGHT1 changes nothing.
    expect(['FLIGHT2', 'FLIGHT1,FLIGHT2']).toContain(ids.join(','))
    for (const d of second.deliveries.slice(0, -1))
      expect(d.outcome.ok && d.outcome.transition?.duplicate).toBe(true)
    expect(await f.store.getChat(sid, chat)).toMatchObject({ unanswered: 3, unreadCount: 3 })
  })

  it('drops an invalid injected event and keeps the session going', async () => {
    const sid = 's-garbage'
    const r = recordingSink()
    const session = await open(sid, r.sink)
    const invalidBefore = await invalidCount()
    await network.injectEvent(sid, {
      type: 'message',
      sessionId: sid,
      key: { remoteJid: 'nobody@example.com' },
    })
    await network.injectEvent(sid, 'garbage')
    // Not even JSON: written straight to the stream, as a buggy producer might.
    await f.redis.xadd(f.keys.simInbound(sid), '*', 'e', '{not json')
    await network.injectMessage(sid, { chatId: pn(400), text: 'still there?', id: 'AFTERGARBAGE' })
    const valid = await r.untilMessage('AFTERGARBAGE')

    expect(r.deliveries).toHaveLength(4)
    for (const d of r.deliveries.slice(0, 3))
      expect(d.outcome).toMatchObject({ ok: false, reason: 'invalid' })
    const bad = r.deliveries[0]!.outcome
    expect(bad.ok ? '' : bad.problems.join('\n')).toContain('key.remoteJid: expected a chat jid')
    expect(valid.outcome).toMatchObject({ ok: true, transition: { unanswered: 1, created: true } })
    expect(await invalidCount()).toBe(invalidBefore + 3)
    expect(session.status()).toBe('WORKING')
    expect(await f.store.countChats(sid)).toBe(1)
  })
})

describe('sim actions', () => {
  const dmKey: MessageKey = { remoteJid: pn(500), fromMe: false, id: 'DM1' }
  const groupKey: MessageKey = { remoteJid: grp(7), fromMe: false, id: 'GR1', participant: lid(501) }
  const ownKey: MessageKey = { remoteJid: pn(500), fromMe: true, id: 'OWN1' }
  const chatRef: ChatRef = { jid: pn(500), lastMessage: { key: dmKey, timestamp: T0 } }

  it('records every action with its time, in order, and pages with `after`', async () => {
    const sid = 's-actions'
    const r = recordingSink()
    const session = await open(sid, r.sink)
    const t = f.clock.now()
    await session.readMessages([dmKey, groupKey, ownKey])
    f.clock.advance(1000)
    await session.markChatUnread(chatRef)
    f.clock.advance(1000)
    await session.setArchived(chatRef, true)
    f.clock.advance(1000)
    await session.setArchived(chatRef, false)
    f.clock.advance(1000)
    await session.markChatRead(chatRef)
    f.clock.advance(1000)
    await session.sendPresence(grp(7), 'composing')
    // Another session's actions stay apart.
    await (await open('s-actions-other', recordingSink().sink)).sendPresence(pn(1), 'paused')

    const all = await network.actions(sid)
    expect(all.map(({ seq: _seq, ...rest }) => rest)).toEqual([
      // fromMe keys are filtered out (as Baileys does); the group key keeps its participant.
      { kind: 'read', keys: [dmKey, groupKey], at: t, sessionId: sid },
      {
        kind: 'chatModify',
        modification: 'markUnread',
        jid: pn(500),
        lastMessage: chatRef.lastMessage,
        at: t + 1000,
        sessionId: sid,
      },
      {
        kind: 'chatModify',
        modification: 'archive',
        jid: pn(500),
        lastMessage: chatRef.lastMessage,
        at: t + 2000,
        sessionId: sid,
      },
      {
        kind: 'chatModify',
        modification: 'unarchive',
        jid: pn(500),
        lastMessage: chatRef.lastMessage,
        at: t + 3000,
        sessionId: sid,
      },
      {
        kind: 'chatModify',
        modification: 'markRead',
        jid: pn(500),
        lastMessage: chatRef.lastMessage,
        at: t + 4000,
        sessionId: sid,
      },
      { kind: 'presence', jid: grp(7), state: 'composing', at: t + 5000, sessionId: sid },
    ])
    const seqs = all.map((a) => a.seq)
    expect(new Set(seqs).size).toBe(6)

    // Paging: `after` is exclusive, `limit` bounds the page, and walking pages visits each action once.
    expect((await network.actions(sid, { after: seqs[0]!, limit: 2 })).map((a) => a.seq)).toEqual(
      seqs.slice(1, 3),
    )
    expect(await network.actions(sid, { after: seqs[5]! })).toEqual([])
    const walked: string[] = []
    let after: string | undefined
    for (;;) {
      const page = await network.actions(sid, { limit: 4, ...(after ? { after } : {}) })
      if (page.length === 0) break
      walked.push(...page.map((a) => a.seq))
      after = page.at(-1)!.seq
    }
    expect(walked).toEqual(seqs)
    expect((await network.actions('s-actions-other')).map((a) => a.kind)).toEqual(['presence'])
  })

  it('2.11 our own archive / unread / receipt show in the inbox state once the sim accepted them', async () => {
    const sid = 's-own-state'
    const r = recordingSink()
    const session = await open(sid, r.sink)
    const chat = pn(600)
    await network.injectMessage(sid, { chatId: chat, text: 'hello', id: 'OWNSTATE1', timestamp: T0 + 100 })
    await r.untilMessage('OWNSTATE1')
    const ref: ChatRef = {
      jid: chat,
      lastMessage: { key: { remoteJid: chat, fromMe: false, id: 'OWNSTATE1' }, timestamp: T0 + 100 },
    }
    await session.setArchived(ref, true)
    expect(await f.store.getChat(sid, chat)).toMatchObject({ archived: true, unreadCount: 1 })
    await session.readMessages([ref.lastMessage.key])
    expect(await f.store.getChat(sid, chat)).toMatchObject({ unreadCount: 0 })
    await session.markChatUnread(ref)
    expect(await f.store.getChat(sid, chat)).toMatchObject({ markedUnread: true })
    await session.setArchived(ref, false)
    expect(await f.store.getChat(sid, chat)).toMatchObject({ archived: false, markedUnread: true })
  })

  it('refuses actions once the session is closed', async () => {
    const session = await open('s-actions-closed', recordingSink().sink)
    await closeSession(session)
    await expect(session.sendPresence(pn(1), 'composing')).rejects.toBeInstanceOf(SessionNotLiveError)
    expect(await network.actions('s-actions-closed')).toEqual([])
  })
})

async function invalidCount(): Promise<number> {
  const m = await f.metrics.ingestEvents.get()
  return m.values.filter((v) => v.labels.outcome === 'invalid').reduce((sum, v) => sum + v.value, 0)
}
