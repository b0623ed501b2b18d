import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { ManualClock } from '../../src/clock.js'
import type { ChatRef, EventSink } from '../../src/whatsapp/port.js'
import { appFixture } from '../helpers/app.js'
import { group, lid, pn, T0 } from '../helpers/events.js'
import { FAKE_ME, fakeBaileys, waMessage } from '../helpers/fake-wa-socket.js'

/**
 * Reads, our own receipts and our own chat modifications, driven through the Baileys-faithful fake into
 * the real services (inbox, receipt planner) on real Redis. `manual-line` remembers every customer
 * message for a receipt (manual policy), so "pending" is visible without timers.
 */
const RULES = fileURLToPath(new URL('../fixtures/rules.receipts.yaml', import.meta.url))
const SID = 'manual-line'
let f: Awaited<ReturnType<typeof appFixture<ManualClock>>>
beforeAll(async () => {
  f = await appFixture('baileys-reads', { rulesPath: RULES })
})
afterAll(() => f.cleanup())

const ingesting: EventSink = async (raw) => {
  const out = await f.services.ingestor.ingest(raw)
  if (!out.ok) throw new Error(`ingest refused ${JSON.stringify(raw)}: ${out.problems.join('; ')}`)
}

async function working() {
  const h = fakeBaileys({ clock: f.clock })
  const session = await h.transport.open(SID, ingesting)
  h.auth(SID).state.creds.me = { ...FAKE_ME }
  const sock = h.sockets.last()
  sock.open()
  await vi.waitFor(() => expect(session.status()).toBe('WORKING'))
  return { ...h, session, sock }
}

const customer = (chat: string, id: string, ms: number, participant?: string) =>
  waMessage({
    key: { remoteJid: chat, fromMe: false, id, ...(participant ? { participant } : {}) },
    messageTimestamp: ms / 1000,
    message: { conversation: `customer says ${id}` },
  })

const pendingIds = async (chat: string) =>
  (await f.services.receipts.pending(SID, chat)).map((e) => e.key.id).sort()

const chatOf = (chat: string) => f.services.inbox.getChat(SID, chat)

function refOf(chat: string, id: string, ms: number): ChatRef {
  return { jid: chat, lastMessage: { key: { remoteJid: chat, fromMe: false, id }, timestamp: ms } }
}

describe('reads and our own actions through Baileys', () => {
  it('2.1 our own chatModify markRead does not drop the pending receipts (no WhatsApp-sourced read)', async () => {
    const { session, sock } = await working()
    const chat = pn(7001)
    f.clock.set(T0 + 1_000)
    await sock.receive([customer(chat, 'R1', T0 + 1_000)])
    await vi.waitFor(async () => expect(await pendingIds(chat)).toEqual(['R1']))
    // A reminder's clearFirst: our own markRead on WhatsApp.
    f.clock.set(T0 + 5_000)
    await session.markChatRead(refOf(chat, 'R1', T0 + 1_000))
    // Baileys would emit it back (emitOwnEvents) within its buffer window: give it that window.
    await new Promise((r) => setTimeout(r, 250))
    expect(await pendingIds(chat)).toEqual(['R1'])
    expect(await chatOf(chat)).toMatchObject({ unreadCount: 0 })
    await session.close()
  })

  it('2.2 a read on the phone arrives as a receipt (1:1 and group) and drops the pending receipts', async () => {
    const { session, sock } = await working()
    const dm = lid(7002)
    const grp = group(7002)
    f.clock.set(T0 + 10_000)
    await sock.receive([customer(dm, 'D1', T0 + 10_000), customer(grp, 'G1', T0 + 10_000, pn(7102))])
    await vi.waitFor(async () => {
      expect(await pendingIds(dm)).toEqual(['D1'])
      expect(await pendingIds(grp)).toEqual(['G1'])
    })
    sock.otherDeviceReads(
      [
        { remoteJid: dm, fromMe: false, id: 'D1' },
        { remoteJid: grp, fromMe: false, id: 'G1', participant: pn(7102) },
      ],
      (T0 + 20_000) / 1000,
    )
    await vi.waitFor(async () => {
      expect(await chatOf(dm)).toMatchObject({ unreadCount: 0, lastReadAt: T0 + 20_000 })
      expect(await chatOf(grp)).toMatchObject({ unreadCount: 0, lastReadAt: T0 + 20_000 })
    })
    expect(await pendingIds(dm)).toEqual([])
    expect(await pendingIds(grp)).toEqual([])
    await session.close()
  })

  it('issue 24 fault 4: a group read on the phone that lands in the buffered batch of the message itself still reads the chat', async () => {
    const { session, sock } = await working()
    const grp = group(7010)
    f.clock.set(T0 + 70_000)
    // Baileys flushes a received message about 100 ms later (Utils/event-buffer createBufferedFunction);
    // the phone's read receipt handled within that window is folded into the buffered message's
    // userReceipt[] (event-buffer `append` -> Utils/messages updateMessageWithReceipt), not emitted.
    await sock.receive([customer(grp, 'F1', T0 + 70_000, pn(7110))])
    sock.otherDeviceReads(
      [{ remoteJid: grp, fromMe: false, id: 'F1', participant: pn(7110) }],
      (T0 + 71_000) / 1000,
    )
    await vi.waitFor(async () =>
      expect(await chatOf(grp)).toMatchObject({ unreadCount: 0, lastReadAt: T0 + 71_000 }),
    )
    expect(await pendingIds(grp)).toEqual([])
    await session.close()
  })

  it('2.2 a buffered read followed by a message: unread 1, only the earlier message loses its receipt', async () => {
    const { session, sock } = await working()
    const chat = pn(7003)
    f.clock.set(T0 + 30_000)
    await sock.receive([customer(chat, 'B1', T0 + 30_000)])
    await vi.waitFor(async () => expect(await pendingIds(chat)).toEqual(['B1']))
    // Offline catch-up: the read made on the phone and a newer message flush together (summed to +1).
    await sock.offline(async () => {
      f.clock.set(T0 + 40_000)
      await sock.otherDeviceModifies(
        {
          markRead: true,
          lastMessages: [{ key: customer(chat, 'B1', 0).key, messageTimestamp: (T0 + 30_000) / 1000 }],
        },
        chat,
      )
      f.clock.set(T0 + 50_000)
      await sock.receive([customer(chat, 'B2', T0 + 50_000)])
    })
    await vi.waitFor(async () => expect(await pendingIds(chat)).toEqual(['B2']))
    expect(await chatOf(chat)).toMatchObject({ unreadCount: 1 })
    await session.close()
  })

  it('issue 24 fault 7: a read made on the phone while we were offline is timed by its own message range, not our reconnect', async () => {
    const { session, sock } = await working()
    const chat = pn(7011)
    f.clock.set(T0 + 100_000)
    await sock.receive([customer(chat, 'P1', T0 + 100_000)])
    await vi.waitFor(async () => expect(await pendingIds(chat)).toEqual(['P1']))
    // While we are offline the phone reads P1 (markChatAsReadAction, messageRange up to P1), then the
    // customer writes P2. We reconnect later and get both in the offline catch-up.
    await sock.offline(async () => {
      await sock.receive([customer(chat, 'P2', T0 + 110_000)])
      f.clock.set(T0 + 300_000)
      await sock.otherDeviceModifies(
        {
          markRead: true,
          lastMessages: [{ key: customer(chat, 'P1', 0).key, messageTimestamp: (T0 + 100_000) / 1000 }],
        },
        chat,
      )
    })
    await vi.waitFor(async () => expect(await chatOf(chat)).toMatchObject({ lastReadAt: T0 + 100_000 }))
    expect(await chatOf(chat)).toMatchObject({ unreadCount: 1 })
    expect(await pendingIds(chat)).toEqual(['P2'])
    await session.close()
  })

  it('2.3 our own readMessages leaves the chat read up to the newest receipted message', async () => {
    const { session, sock } = await working()
    const chat = pn(7004)
    f.clock.set(T0 + 60_000)
    await sock.receive([customer(chat, 'O1', T0 + 60_000), customer(chat, 'O2', T0 + 61_000)])
    await vi.waitFor(async () => expect(await chatOf(chat)).toMatchObject({ unreadCount: 2 }))
    await session.readMessages([{ remoteJid: chat, fromMe: false, id: 'O1' }])
    expect(await chatOf(chat)).toMatchObject({ unreadCount: 1, lastReadAt: T0 + 60_000 })
    await session.readMessages([
      { remoteJid: chat, fromMe: false, id: 'O1' },
      { remoteJid: chat, fromMe: false, id: 'O2' },
    ])
    expect(await chatOf(chat)).toMatchObject({ unreadCount: 0 })
    const unread = await f.services.inbox.overview(SID, { limit: 50, filter: 'unread' })
    expect(unread.items.map((c) => c.jid)).not.toContain(chat)
    await session.close()
  })

  it('2.11 our own archive / unarchive / unread / read show in the inbox once WhatsApp accepted them', async () => {
    const { session, sock } = await working()
    const chat = pn(7005)
    f.clock.set(T0 + 70_000)
    await sock.receive([customer(chat, 'A1', T0 + 70_000)])
    await vi.waitFor(async () => expect(await chatOf(chat)).toMatchObject({ unreadCount: 1 }))
    const ref = refOf(chat, 'A1', T0 + 70_000)
    await session.setArchived(ref, true)
    expect(await chatOf(chat)).toMatchObject({ archived: true })
    await session.setArchived(ref, false)
    expect(await chatOf(chat)).toMatchObject({ archived: false })
    await session.markChatRead(ref)
    expect(await chatOf(chat)).toMatchObject({ unreadCount: 0, markedUnread: false })
    await session.markChatUnread(ref)
    expect(await chatOf(chat)).toMatchObject({ markedUnread: true })
    // Refused by WhatsApp: the inbox does not change.
    sock.impl.chatModify = async () => {
      throw new Error('Incomplete key')
    }
    await expect(session.setArchived(ref, true)).rejects.toThrow('Incomplete key')
    expect(await chatOf(chat)).toMatchObject({ archived: false })
    await session.close()
  })
})
