import { fileURLToPath } from 'node:url'
import { proto } from '@whiskeysockets/baileys'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { normaliseMessage } from '../../src/whatsapp/baileys/normalise.js'
import { appFixture } from '../helpers/app.js'
import { T0 } from '../helpers/events.js'
import { FAKE_ME, fakeBaileys, waMessage } from '../helpers/fake-wa-socket.js'

/**
 * Issue 24, fault 3: a customer message that did not decrypt. Baileys' `decryptMessageNode`
 * (Utils/decode-wa-message) marks it `messageStubType: CIPHERTEXT` with `messageStubParameters`
 * ['Message absent from node'] (nothing to decrypt, e.g. the first message of a click-to-WhatsApp ad) or
 * [the decryption error]; Socket/messages-recv `handleMessage` asks the phone (placeholder resend) or the
 * sender (retry receipt) and upserts the stub under the message's key. The content arrives later as a
 * `messages.upsert` 'notify' with the same key (Utils/process-message, PEER_DATA_OPERATION_REQUEST_RESPONSE:
 * the cached key with the decoded content), or never.
 */

const RULES = fileURLToPath(new URL('../fixtures/rules.receipts.yaml', import.meta.url))
const SID = 'bot-line'
const CHAT = '4915112340001@s.whatsapp.net'
const CIPHERTEXT = proto.WebMessageInfo.StubType.CIPHERTEXT
const NO_MESSAGE_FOUND = 'Message absent from node'

let f: Awaited<ReturnType<typeof appFixture>>
beforeAll(async () => {
  f = await appFixture('wa-ciphertext', { rulesPath: RULES })
})
afterAll(async () => {
  await f.cleanup()
})

async function openSession() {
  let applied = 0
  const h = fakeBaileys()
  const session = await h.transport.open(SID, async (raw) => {
    await f.services.ingestor.ingest(raw)
    applied += 1
  })
  h.auth(SID).state.creds.me = FAKE_ME
  const sock = h.sockets.last()
  sock.open()
  await vi.waitFor(() => expect(session.status()).toBe('WORKING'))
  return { session, sock, applied: () => applied }
}

describe('undecryptable customer messages (issue 24, fault 3)', () => {
  it('a CIPHERTEXT placeholder counts as a customer message (unanswered, waiting, unread) without a receipt; its content later is the same message', async () => {
    const { session, sock, applied } = await openSession()
    const key = { remoteJid: CHAT, fromMe: false, id: '3EB0ADFIRST1' }
    const ts = T0 / 1000
    await sock.receive([
      waMessage({
        key,
        messageTimestamp: String(ts),
        pushName: 'Ad Visitor',
        messageStubType: CIPHERTEXT,
        messageStubParameters: [NO_MESSAGE_FOUND],
      }),
    ])
    await vi.waitFor(() => expect(applied()).toBeGreaterThanOrEqual(1))
    await vi.waitFor(async () =>
      expect(await f.services.inbox.getChat(SID, CHAT)).toMatchObject({
        unanswered: 1,
        unreadCount: 1,
        waitingSince: T0,
      }),
    )
    // Nothing readable arrived: no receipt is planned for it.
    expect(await f.services.receipts.pending(SID, CHAT)).toEqual([])

    // The phone answers the placeholder resend: the same key, now with content.
    await sock.receive([
      waMessage({
        key,
        messageTimestamp: String(ts),
        pushName: 'Ad Visitor',
        message: { extendedTextMessage: { text: 'Hi, I saw your ad: is the offer still on?' } },
      }),
    ])
    await vi.waitFor(async () =>
      expect((await f.services.receipts.pending(SID, CHAT)).map((p) => p.key.id)).toEqual([key.id]),
    )
    expect(await f.services.inbox.getChat(SID, CHAT)).toMatchObject({
      unanswered: 1,
      unreadCount: 1,
      waitingSince: T0,
      lastMessage: expect.objectContaining({ preview: 'Hi, I saw your ad: is the offer still on?' }),
    })
    await session.close()
  })

  it('only customer CIPHERTEXT stubs count: our own undecryptable messages and other stubs stay skipped', () => {
    const ctx = { sessionId: SID, now: T0, self: [FAKE_ME.id, FAKE_ME.lid] }
    const stub = (fromMe: boolean, type: number, id: string) =>
      waMessage({
        key: { remoteJid: CHAT, fromMe, id },
        messageTimestamp: String(T0 / 1000),
        messageStubType: type,
        messageStubParameters: ['Bad MAC'],
      })
    expect(normaliseMessage(ctx, stub(false, CIPHERTEXT, 'A1'), 'append')).toMatchObject({
      ok: true,
      event: { key: { id: 'A1', fromMe: false }, origin: 'customer', undecrypted: true, delivery: 'backlog' },
    })
    expect(normaliseMessage(ctx, stub(true, CIPHERTEXT, 'A2'), 'notify')).toEqual({
      ok: false,
      reason: 'stub',
    })
    const missedCall = proto.WebMessageInfo.StubType.CALL_MISSED_VOICE
    expect(normaliseMessage(ctx, stub(false, missedCall, 'A3'), 'notify')).toEqual({
      ok: false,
      reason: 'stub',
    })
  })
})
