import { afterAll, describe, expect, it, vi } from 'vitest'
import type { IngestOutcome } from '../../src/inbox/ingest.js'
import type { EventSink } from '../../src/whatsapp/port.js'
import { T0 } from '../helpers/events.js'
import { fakeBaileys, waMessage } from '../helpers/fake-wa-socket.js'
import { inboxFixture } from '../helpers/inbox.js'

/**
 * The adapter end to end on real Redis: a fake Baileys socket emits real Baileys shapes, the adapter
 * normalises and serialises them into the real Ingestor/InboxStore.
 */
const f = inboxFixture('baileys-ingest')
afterAll(() => f.cleanup())

const ME = { id: '4915100000001:7@s.whatsapp.net', lid: '99900000000001:7@lid', name: 'Support' }

function ingestingSink() {
  const outcomes: IngestOutcome[] = []
  const sink: EventSink = async (raw) => {
    outcomes.push(await f.ingestor.ingest(raw))
  }
  return { sink, outcomes }
}

async function openSession(sid: string, sink: EventSink) {
  const h = fakeBaileys()
  const session = await h.transport.open(sid, sink)
  h.auth(sid).state.creds.me = ME
  const sock = h.sockets.last()
  sock.open()
  await vi.waitFor(() => expect(session.status()).toBe('WORKING'))
  return { session, sock }
}

describe('BaileysTransport into the inbox', () => {
  it('a LID chat and a reply from the phone-number form end up as one chat, answered', async () => {
    const sid = 'bl-e2e-alt'
    const lid = '123456789012345@lid'
    const pn = '4915112345678@s.whatsapp.net'
    const { sink, outcomes } = ingestingSink()
    const { session, sock } = await openSession(sid, sink)

    sock.emit('messages.upsert', {
      type: 'notify',
      messages: [
        waMessage({
          key: {
            remoteJid: lid,
            remoteJidAlt: pn,
            fromMe: false,
            id: '3EB0CUSTOMER1',
            addressingMode: 'lid',
          },
          messageTimestamp: String(T0 / 1000),
          pushName: 'Jana',
          message: { conversation: 'Wo bleibt meine Bestellung?' },
        }),
      ],
    })
    await vi.waitFor(() => expect(outcomes).toHaveLength(1))
    expect(await f.store.getChat(sid, lid)).toMatchObject({ unanswered: 1, unreadCount: 1 })

    // The reply typed on the phone arrives addressed to the phone number; Baileys puts our own LID in
    // remoteJidAlt (the stanza's sender): that must not become the chat's alt.
    sock.emit('messages.upsert', {
      type: 'notify',
      messages: [
        waMessage({
          key: { remoteJid: pn, remoteJidAlt: ME.lid.replace(':7', ''), fromMe: true, id: '3EB0REPLY1' },
          messageTimestamp: String(T0 / 1000 + 60),
          message: { extendedTextMessage: { text: 'Ist heute rausgegangen!' } },
        }),
      ],
    })
    await vi.waitFor(() => expect(outcomes).toHaveLength(2))
    expect(outcomes.every((o) => o.ok)).toBe(true)

    expect(await f.store.countChats(sid)).toBe(1)
    const byLid = await f.store.getChat(sid, lid)
    const byPn = await f.store.getChat(sid, pn)
    expect(byPn).toEqual(byLid)
    expect(byLid).toMatchObject({
      unanswered: 0,
      waitingSince: null,
      lastMessage: expect.objectContaining({ fromMe: true }),
    })
    await session.close()
  })

  it('without an alt on the message, a lid-mapping.update joins the forms before the reply', async () => {
    const sid = 'bl-e2e-map'
    const lid = '223456789012345@lid'
    const pn = '4915187654321@s.whatsapp.net'
    const { sink, outcomes } = ingestingSink()
    const { session, sock } = await openSession(sid, sink)

    sock.emit('messages.upsert', {
      type: 'notify',
      messages: [
        waMessage({
          key: { remoteJid: lid, fromMe: false, id: '3EB0CUSTOMER2' },
          messageTimestamp: String(T0 / 1000),
          message: { conversation: 'Hallo?' },
        }),
      ],
    })
    sock.emit('lid-mapping.update', { lid, pn })
    sock.emit('messages.upsert', {
      type: 'notify',
      messages: [
        waMessage({
          key: { remoteJid: pn, fromMe: true, id: '3EB0REPLY2' },
          messageTimestamp: String(T0 / 1000 + 30),
          message: { conversation: 'Ja, hier!' },
        }),
      ],
    })
    // The read on the phone arrives as chats.update unreadCount 0, after the messages.
    sock.emit('chats.update', [{ id: lid, unreadCount: 0 }])
    await vi.waitFor(() => expect(outcomes).toHaveLength(4))
    expect(outcomes.map((o) => o.ok && o.event.type)).toEqual([
      'message',
      'lid.mapping',
      'message',
      'chat.read',
    ])

    expect(await f.store.countChats(sid)).toBe(1)
    expect(await f.store.getChat(sid, pn)).toMatchObject({ unanswered: 0, unreadCount: 0 })
    await session.close()
  })

  it('2.10 a push name arriving with every message never overwrites the saved contact name', async () => {
    const sid = 'bl-e2e-names'
    const chat = '4915199998888@s.whatsapp.net'
    const { sink } = ingestingSink()
    const { session, sock } = await openSession(sid, sink)
    // The address book entry, from the app-state / history sync.
    sock.emit('contacts.upsert', [{ id: chat, name: 'Jana Schmidt (Kundin)' }])
    await vi.waitFor(async () => expect((await f.store.contacts(sid, { limit: 10 })).items).toHaveLength(1))
    // Her message carries the push name she chose; Baileys also emits it as contacts.update `notify`.
    await sock.receive([
      waMessage({
        key: { remoteJid: chat, fromMe: false, id: '3EB0NAMES1' },
        messageTimestamp: String(T0 / 1000 + 5),
        pushName: 'J. 🌻',
        message: { conversation: 'Hallo!' },
      }),
    ])
    await vi.waitFor(async () => expect(await f.store.getChat(sid, chat)).not.toBeNull())
    await new Promise((r) => setTimeout(r, 200))
    const [contact] = (await f.store.contacts(sid, { limit: 10 })).items
    expect(contact).toMatchObject({ jid: chat, name: 'Jana Schmidt (Kundin)' })
    expect(await f.store.getChat(sid, chat)).toMatchObject({ name: 'Jana Schmidt (Kundin)' })
    await session.close()
  })
})
