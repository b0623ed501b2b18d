import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { ManualClock } from '../../src/clock.js'
import type { EventSink } from '../../src/whatsapp/port.js'
import { appFixture } from '../helpers/app.js'
import { pn, T0 } from '../helpers/events.js'
import { FAKE_ME, fakeBaileys, waMessage } from '../helpers/fake-wa-socket.js'

/**
 * Issue 24, fault 8: the state of chats from before pairing. During the initial sync Baileys' own
 * `processSyncAction` emits app-state changes `conditional` (Utils/chat-utils): the event buffer folds one
 * into its history chat, holds it until the chat appears, or drops it when newer messages make it stale
 * (Utils/event-buffer `append`, `isValidPatchBasedOnMessageRange`).
 */
const RULES = fileURLToPath(new URL('../fixtures/rules.receipts.yaml', import.meta.url))
const SID = 'manual-line'
let f: Awaited<ReturnType<typeof appFixture<ManualClock>>>
beforeAll(async () => {
  f = await appFixture('wa-initsync', { rulesPath: RULES })
})
afterAll(() => f.cleanup())

const ingesting: EventSink = async (raw) => {
  const out = await f.services.ingestor.ingest(raw)
  if (!out.ok) throw new Error(`ingest refused ${JSON.stringify(raw)}: ${out.problems.join('; ')}`)
}

const customer = (chat: string, id: string, ms: number) =>
  waMessage({
    key: { remoteJid: chat, fromMe: false, id },
    messageTimestamp: ms / 1000,
    message: { conversation: `customer says ${id}` },
  })

describe('the initial sync (issue 24, fault 8)', () => {
  it("applies history's chat state once (archived before pairing) and leaves no stale signal pending", async () => {
    const h = fakeBaileys({ clock: f.clock })
    const session = await h.transport.open(SID, ingesting)
    h.auth(SID).state.creds.me = { ...FAKE_ME }
    h.auth(SID).state.creds.accountSettings = { unarchiveChats: false }
    const sock = h.sockets.last()
    sock.open()
    await vi.waitFor(() => expect(session.status()).toBe('WORKING'))

    const archivedChat = pn(9001)
    const staleChat = pn(9002)
    const day = 86_400
    const t = T0 / 1000
    await sock.initialSync(
      [
        { id: archivedChat, conversationTimestamp: t - 2 * day, lastMessageRecvTimestamp: t - 2 * day },
        // The customer wrote again after the phone marked this chat unread: that mark is stale.
        { id: staleChat, conversationTimestamp: t - day, lastMessageRecvTimestamp: t - day },
      ],
      [
        {
          jid: archivedChat,
          mod: {
            archive: true,
            lastMessages: [{ key: customer(archivedChat, 'OLD1', 0).key, messageTimestamp: t - 2 * day }],
          },
        },
        {
          jid: staleChat,
          mod: {
            markRead: false,
            lastMessages: [{ key: customer(staleChat, 'OLD2', 0).key, messageTimestamp: t - 3 * day }],
          },
        },
      ],
    )
    // Live messages after pairing.
    f.clock.set(T0 + 1_000)
    await sock.receive([customer(archivedChat, 'NEW1', T0 + 1_000), customer(staleChat, 'NEW2', T0 + 1_000)])
    await vi.waitFor(async () => {
      expect(await f.services.inbox.getChat(SID, archivedChat)).toMatchObject({ unanswered: 1 })
      expect(await f.services.inbox.getChat(SID, staleChat)).toMatchObject({ unanswered: 1 })
    })
    expect(await f.services.inbox.getChat(SID, archivedChat)).toMatchObject({ archived: true })
    // The mark Baileys dropped as stale must not come back with the chat's next update.
    expect(await f.services.inbox.getChat(SID, staleChat)).toMatchObject({ markedUnread: false })
    await session.close()
  })
})
