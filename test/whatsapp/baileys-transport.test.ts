import { DisconnectReason } from '@whiskeysockets/baileys'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { MessageKey } from '../../src/domain/events.js'
import { SendTimeoutError } from '../../src/whatsapp/baileys/transport.js'
import { learnWaWebVersion } from '../../src/whatsapp/baileys/wa-version.js'
import {
  AppStateKeyMissingError,
  type ChatRef,
  type EventSink,
  SessionNotLiveError,
} from '../../src/whatsapp/port.js'
import { T0 } from '../helpers/events.js'
import { disconnectError, FAKE_ME, fakeBaileys, waMessage } from '../helpers/fake-wa-socket.js'

const SID = 'sales-de'
const settle = () => vi.advanceTimersByTimeAsync(0)

const CUSTOMER_LID = '123456789012345@lid'
const CUSTOMER_PN = '4915112345678@s.whatsapp.net'
const GROUP = '120363000000000042@g.us'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
  vi.setSystemTime(T0)
})
afterEach(() => {
  vi.useRealTimers()
})

async function working(overrides: Parameters<typeof fakeBaileys>[0] = {}, sink: EventSink = async () => {}) {
  const h = fakeBaileys(overrides)
  const session = await h.transport.open(SID, sink)
  const sock = h.sockets.last()
  sock.open()
  await settle()
  expect(session.status()).toBe('WORKING')
  return { ...h, session, sock }
}

const chat: ChatRef = {
  jid: GROUP,
  lastMessage: {
    key: { remoteJid: GROUP, fromMe: false, id: '3A5F00C0FFEE', participant: '777777777777777@lid' },
    timestamp: T0 + 1_500,
  },
}

describe('actions', () => {
  it('sends the receipts of a batch in ONE readMessages call with the keys as given', async () => {
    const { session, sock } = await working()
    const keys: MessageKey[] = [
      { remoteJid: GROUP, fromMe: false, id: 'G1', participant: '777777777777777@lid' },
      { remoteJid: GROUP, fromMe: false, id: 'G2', participant: '4917611112222@s.whatsapp.net' },
      { remoteJid: CUSTOMER_LID, fromMe: false, id: 'D1' },
    ]
    await session.readMessages(keys)
    expect(sock.calls.readMessages).toEqual([keys])
    await session.readMessages([])
    expect(sock.calls.readMessages).toHaveLength(1)
    await session.close()
  })

  it('chatModify gets the last message key and its timestamp in SECONDS', async () => {
    const { session, sock } = await working()
    await session.markChatRead(chat)
    await session.markChatUnread(chat)
    await session.setArchived(chat, true)
    const lastMessages = [{ key: chat.lastMessage.key, messageTimestamp: Math.floor((T0 + 1_500) / 1000) }]
    expect(sock.calls.chatModify).toEqual([
      { mod: { markRead: true, lastMessages }, jid: GROUP },
      { mod: { markRead: false, lastMessages }, jid: GROUP },
      { mod: { archive: true, lastMessages }, jid: GROUP },
    ])
    // Baileys normalises keys inside lastMessages in place: ours must be copies.
    expect(chat.lastMessage.key).toEqual({
      remoteJid: GROUP,
      fromMe: false,
      id: '3A5F00C0FFEE',
      participant: '777777777777777@lid',
    })
    await session.close()
  })

  it('2.4 typing shows: available, then the chat state, then back to unavailable', async () => {
    const { session, sock, auth } = await working()
    auth(SID).state.creds.me = { ...FAKE_ME }
    await session.sendPresence(CUSTOMER_LID, 'composing')
    // The contact sees it: we announced ourselves available first.
    expect(sock.shownToContact).toEqual([{ type: 'composing', jid: CUSTOMER_LID }])
    await session.sendPresence(CUSTOMER_LID, 'paused')
    expect(sock.calls.presence).toEqual([
      { type: 'available', jid: undefined },
      { type: 'composing', jid: CUSTOMER_LID },
      { type: 'paused', jid: CUSTOMER_LID },
      { type: 'unavailable', jid: undefined },
    ])
    // Recording with nothing after it: unavailable again once the chat state has expired.
    await session.sendPresence(CUSTOMER_LID, 'recording')
    expect(sock.shownToContact.at(-1)).toEqual({ type: 'recording', jid: CUSTOMER_LID })
    await vi.advanceTimersByTimeAsync(10_000)
    expect(sock.calls.presence.at(-1)).toEqual({ type: 'unavailable', jid: undefined })
    await session.close()
  })

  it('issue 24 fault 11: an account without a push name cannot show typing, and says so instead of believing it is available', async () => {
    const { session, sock, auth } = await working()
    // Paired, but no profile name: Baileys (Socket/chats sendPresenceUpdate) drops available/unavailable.
    auth(SID).state.creds.me = { id: FAKE_ME.id, lid: FAKE_ME.lid }
    await expect(session.sendPresence(CUSTOMER_LID, 'composing')).rejects.toThrow(
      /typing cannot show, this WhatsApp account has no profile name/,
    )
    expect(sock.shownToContact).toEqual([])
    // No stanza spent on a chat state nobody would see.
    expect(sock.calls.presence).toEqual([])
    // With a name set on the phone (creds.update), typing shows.
    auth(SID).state.creds.me = { ...FAKE_ME }
    await session.sendPresence(CUSTOMER_LID, 'composing')
    expect(sock.shownToContact).toEqual([{ type: 'composing', jid: CUSTOMER_LID }])
    await session.close()
  })

  it('refuses actions while the session is not WORKING', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, async () => {})
    await expect(session.sendPresence(CUSTOMER_PN, 'composing')).rejects.toBeInstanceOf(SessionNotLiveError)
    h.sockets.last().open()
    await settle()
    h.sockets.last().drop(DisconnectReason.connectionLost)
    await settle()
    await expect(
      session.readMessages([{ remoteJid: CUSTOMER_PN, fromMe: false, id: 'A' }]),
    ).rejects.toBeInstanceOf(SessionNotLiveError)
    expect(h.sockets.sockets[0]!.calls.readMessages).toEqual([])
    await session.close()
    await expect(session.markChatRead(chat)).rejects.toBeInstanceOf(SessionNotLiveError)
  })

  it("maps Baileys' missing app-state key errors to AppStateKeyMissingError", async () => {
    const { session, sock } = await working()
    // Socket/chats.js appPatch: new Boom('App state key not present!', { statusCode: 400 })
    sock.impl.chatModify = async () => {
      throw Object.assign(new Error('App state key not present!'), { output: { statusCode: 400 } })
    }
    await expect(session.markChatUnread(chat)).rejects.toBeInstanceOf(AppStateKeyMissingError)
    // Utils/chat-utils.js encodeSyncdPatch: Boom('myAppStateKey ("…") not present', { data: { isMissingKey: true } })
    sock.impl.chatModify = async () => {
      throw Object.assign(new Error('myAppStateKey ("AAAAAJz0") not present'), {
        data: { isMissingKey: true },
      })
    }
    await expect(session.setArchived(chat, true)).rejects.toBeInstanceOf(AppStateKeyMissingError)
    // Anything else passes through unchanged.
    sock.impl.chatModify = async () => {
      throw new Error('Incomplete key')
    }
    await expect(session.markChatRead(chat)).rejects.toThrow('Incomplete key')
    // Baileys' "socket is closed" error means no live connection.
    sock.impl.chatModify = async () => {
      throw disconnectError(DisconnectReason.connectionClosed, 'Connection Closed')
    }
    await expect(session.markChatRead(chat)).rejects.toBeInstanceOf(SessionNotLiveError)
    await session.close()
  })

  it('bounds every send by the timeout; a stalled send does not block the next action', async () => {
    const { session, sock } = await working({ sendTimeoutMs: 1_000 })
    sock.impl.readMessages = () => new Promise<void>(() => {})
    const stalled = session.readMessages([{ remoteJid: CUSTOMER_PN, fromMe: false, id: 'A' }])
    const outcome = stalled.then(
      () => 'resolved',
      (err: unknown) => err,
    )
    await vi.advanceTimersByTimeAsync(999)
    await expect(Promise.race([outcome, Promise.resolve('pending')])).resolves.toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    const err = await outcome
    expect(err).toBeInstanceOf(SendTimeoutError)
    expect((err as Error).message).toMatch(/readMessages timed out after 1000 ms/)

    await session.markChatRead(chat)
    expect(sock.calls.chatModify).toHaveLength(1)
    await session.close()
  })
})

describe('rate limit', () => {
  it('with max 3 per 1 s, 6 chat modifications wait for tokens (>= one window) instead of failing', async () => {
    const { session, sock } = await working({ sendRate: () => ({ max: 3, per: 1_000 }) })
    const started = Date.now()
    const done: number[] = []
    const all = Array.from({ length: 6 }, (_, i) =>
      (i % 2 ? session.markChatUnread(chat) : session.markChatRead(chat)).then(() =>
        done.push(Date.now() - started),
      ),
    )
    await settle()
    expect(sock.calls.chatModify).toHaveLength(3)
    await vi.advanceTimersByTimeAsync(999)
    expect(sock.calls.chatModify).toHaveLength(5)
    await vi.advanceTimersByTimeAsync(10)
    await Promise.all(all)
    expect(sock.calls.chatModify).toHaveLength(6)
    expect(Math.max(...done)).toBeGreaterThanOrEqual(1_000)
    // Order of calls is the order of requests.
    expect(sock.calls.chatModify.map((c) => 'markRead' in c.mod && c.mod.markRead)).toEqual([
      true,
      false,
      true,
      false,
      true,
      false,
    ])
    await session.close()
  })

  it('receipts, chat modifications and presence share one budget', async () => {
    const { session, sock } = await working({ sendRate: () => ({ max: 2, per: 1_000 }) })
    const a = session.readMessages([{ remoteJid: CUSTOMER_PN, fromMe: false, id: 'A' }])
    const b = session.markChatRead(chat)
    const c = session.sendPresence(CUSTOMER_PN, 'paused')
    await settle()
    expect(sock.calls.readMessages.length + sock.calls.chatModify.length + sock.calls.presence.length).toBe(2)
    await vi.advanceTimersByTimeAsync(500)
    await Promise.all([a, b, c])
    expect(sock.calls.presence).toHaveLength(1)
    await session.close()
  })

  it('close() rejects the sends still waiting for a token', async () => {
    const { session } = await working({ sendRate: () => ({ max: 1, per: 60_000 }) })
    await session.sendPresence(CUSTOMER_PN, 'paused')
    const waiting = session.sendPresence(CUSTOMER_PN, 'paused')
    const closing = session.close()
    await expect(waiting).rejects.toBeInstanceOf(SessionNotLiveError)
    await closing
  })
})

describe('event serialisation', () => {
  function msg(id: string, seconds: number) {
    return waMessage({
      key: { remoteJid: CUSTOMER_LID, remoteJidAlt: CUSTOMER_PN, fromMe: false, id },
      messageTimestamp: String(seconds),
      message: { conversation: `message ${id}` },
    })
  }

  /** A sink that holds every delivery until the test releases it. */
  function gatedSink() {
    const delivered: string[] = []
    const gates: Array<() => void> = []
    let inFlight = 0
    let maxInFlight = 0
    const sink: EventSink = async (event) => {
      inFlight += 1
      maxInFlight = Math.max(maxInFlight, inFlight)
      await new Promise<void>((resolve) => gates.push(resolve))
      delivered.push((event as { key?: { id: string } }).key?.id ?? (event as { type: string }).type)
      inFlight -= 1
    }
    return {
      sink,
      delivered,
      stats: () => ({ inFlight, maxInFlight, waiting: gates.length }),
      /** Releases the delivery in flight and lets the next one start. */
      async releaseOne() {
        gates.shift()?.()
        await settle()
      },
    }
  }

  it('delivers events emitted faster than the sink resolves one at a time, in order', async () => {
    const g = gatedSink()
    const { session, sock } = await working({}, g.sink)
    const ids = ['E1', 'E2', 'E3', 'E4', 'E5']
    ids.forEach((id, i) => {
      sock.emit('messages.upsert', { messages: [msg(id, T0 / 1000 + i)], type: 'notify' })
    })
    sock.emit('chats.update', [{ id: CUSTOMER_LID, unreadCount: 0 }])
    await settle()
    expect(g.stats()).toMatchObject({ inFlight: 1, waiting: 1 })
    for (let i = 0; i < 6; i++) await g.releaseOne()
    expect(g.delivered).toEqual([...ids, 'chat.read'])
    expect(g.stats().maxInFlight).toBe(1)
    await session.close()
  })

  it("keeps Baileys' own batching: a buffered flush arrives as one ordered batch", async () => {
    const delivered: string[] = []
    const { session, sock } = await working({}, async (e) => {
      delivered.push((e as { type: string }).type)
    })
    sock.ev.buffer()
    sock.emit('chats.update', [{ id: CUSTOMER_LID, unreadCount: -1 }])
    sock.emit('messages.upsert', { messages: [msg('B1', T0 / 1000)], type: 'notify' })
    sock.emit('contacts.update', [{ id: CUSTOMER_LID, notify: 'Jana' }])
    await settle()
    expect(delivered).toEqual([])
    sock.ev.flush()
    await settle()
    expect(delivered).toEqual(['contact', 'message', 'chat.markedUnread'])
    await session.close()
  })

  it('close() finishes the queued events first and delivers nothing emitted after it', async () => {
    const g = gatedSink()
    const { session, sock } = await working({}, g.sink)
    sock.emit('messages.upsert', {
      messages: [msg('C1', T0 / 1000), msg('C2', T0 / 1000 + 1)],
      type: 'append',
    })
    await settle()
    let closed = false
    const closing = session.close().then(() => {
      closed = true
    })
    sock.emit('messages.upsert', { messages: [msg('LATE', T0 / 1000 + 2)], type: 'notify' })
    await g.releaseOne()
    expect(closed).toBe(false)
    await g.releaseOne()
    await closing
    expect(g.delivered).toEqual(['C1', 'C2'])
    expect(session.status()).toBe('STOPPED')
  })

  it('retries an event while the sink fails, without skipping or reordering', async () => {
    const delivered: string[] = []
    let failures = 2
    const { session, sock } = await working({}, async (e) => {
      const id = (e as { key: { id: string } }).key.id
      if (id === 'R1' && failures-- > 0) throw new Error('redis down')
      delivered.push(id)
    })
    sock.emit('messages.upsert', {
      messages: [msg('R1', T0 / 1000), msg('R2', T0 / 1000 + 1)],
      type: 'notify',
    })
    await settle()
    expect(delivered).toEqual([])
    await vi.advanceTimersByTimeAsync(600)
    expect(delivered).toEqual(['R1', 'R2'])
    await session.close()
  })

  it('counts what normalisation skipped', async () => {
    const onSkipped = vi.fn()
    const { session, sock } = await working({ onSkipped })
    sock.emit('messages.upsert', {
      messages: [
        waMessage({
          key: { remoteJid: 'status@broadcast', fromMe: false, id: 'S', participant: CUSTOMER_PN },
        }),
      ],
      type: 'notify',
    })
    expect(onSkipped).toHaveBeenCalledWith(SID, [{ event: 'messages.upsert', reason: 'status', id: 'S' }])
    await session.close()
  })
})

describe('ban safety (issue 14, section 3)', () => {
  it('status@broadcast, broadcast lists and newsletters are ignored by Baileys (shouldIgnoreJid)', async () => {
    const onSkipped = vi.fn()
    const delivered: unknown[] = []
    const { session, sock } = await working({ onSkipped }, async (e) => {
      delivered.push(e)
    })
    const ignore = sock.config.shouldIgnoreJid!
    expect(ignore('status@broadcast')).toBe(true)
    expect(ignore('1234567890@broadcast')).toBe(true)
    expect(ignore('120363000000000001@newsletter')).toBe(true)
    expect(ignore(CUSTOMER_PN)).toBe(false)
    expect(ignore(CUSTOMER_LID)).toBe(false)
    expect(ignore(GROUP)).toBe(false)
    await sock.receive([
      waMessage({
        key: { remoteJid: 'status@broadcast', fromMe: false, id: 'ST1', participant: CUSTOMER_PN },
        messageTimestamp: T0 / 1000,
        message: { conversation: 'my status' },
      }),
    ])
    await vi.advanceTimersByTimeAsync(200)
    expect(delivered).toEqual([])
    expect(onSkipped).not.toHaveBeenCalled()
    await session.close()
  })

  it('uses the WhatsApp Web version learnt at start-up, else the bundled one, never waiting long', async () => {
    const learnt = fakeBaileys({ waVersion: async () => [2, 3000, 1_030_000_001] })
    const s1 = await learnt.transport.open(SID, async () => {})
    expect(learnt.sockets.last().config.version).toEqual([2, 3000, 1_030_000_001])
    await s1.close()

    const lines: string[] = []
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) })
    const hanging = learnWaWebVersion({ log, timeoutMs: 3_000, fetchVersion: () => new Promise(() => {}) })
    await vi.advanceTimersByTimeAsync(3_000)
    await expect(hanging).resolves.toBeUndefined()
    expect(lines.join('')).toContain("using Baileys' bundled one")
    const offline = await learnWaWebVersion({
      log,
      fetchVersion: async () => ({
        version: [2, 3000, 1],
        isLatest: false,
        error: new Error('fetch failed'),
      }),
    })
    expect(offline).toBeUndefined()
    expect(lines.at(-1)).toContain('fetch failed')
  })
})
