import { afterAll, describe, expect, it, vi } from 'vitest'
import type { InboxEvent } from '../../src/domain/events.js'
import type { EventSink } from '../../src/whatsapp/port.js'
import { group, pn, T0 } from '../helpers/events.js'
import { FAKE_ME, fakeBaileys, waMessage } from '../helpers/fake-wa-socket.js'
import { inboxFixture } from '../helpers/inbox.js'

/** Issue 24, fault 5: a business's verified name and the names of group chats, into the real inbox. */
const f = inboxFixture('baileys-names')
afterAll(() => f.cleanup())

const SID = 'names'
const sink: EventSink = async (raw) => {
  const out = await f.ingestor.ingest(raw)
  if (!out.ok) throw new Error(`ingest refused ${JSON.stringify(raw)}: ${out.problems.join('; ')}`)
}

async function working(overrides: Parameters<typeof fakeBaileys>[0] = {}) {
  const h = fakeBaileys(overrides)
  const session = await h.transport.open(SID, sink)
  h.auth(SID).state.creds.me = { ...FAKE_ME }
  const sock = h.sockets.last()
  sock.open()
  await vi.waitFor(() => expect(session.status()).toBe('WORKING'))
  return { session, sock }
}

/** Resolves once the ingestor applied an event matching `pred`. */
function applied(pred: (e: InboxEvent) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const off = f.ingestor.onApplied((e) => {
      if (pred(e)) {
        off()
        resolve()
      }
    })
  })
}

const contactName = async (jid: string) =>
  (await f.store.contacts(SID, { limit: 100 })).items.find((c) => c.jid === jid || c.phone === jid)?.name

describe('names (issue 24, fault 5)', () => {
  it("a business's verified name, sent with each of its messages, never overwrites the name saved for it", async () => {
    const { session, sock } = await working()
    const shop = pn(8001)
    // The phone's address book (history sync / app state) names the contact.
    sock.emit('contacts.upsert', [{ id: shop, name: 'Bike shop (Jens)' }])
    await vi.waitFor(async () => expect(await contactName(shop)).toBe('Bike shop (Jens)'))
    // Socket/chats `upsertMessage` emits contacts.update { notify, verifiedName } with the message.
    const contactUpdated = applied((e) => e.type === 'contact' && e.pushName === 'Velo Store')
    await sock.receive([
      waMessage({
        key: { remoteJid: shop, fromMe: false, id: 'BIZ1' },
        messageTimestamp: T0 / 1000,
        pushName: 'Velo Store',
        verifiedBizName: 'Velo Store GmbH',
        message: { conversation: 'Your bike is ready' },
      }),
    ])
    await contactUpdated
    await vi.waitFor(async () => expect((await f.store.getChat(SID, shop))?.unanswered).toBe(1))
    expect(await contactName(shop)).toBe('Bike shop (Jens)')
    expect(await f.store.getChat(SID, shop)).toMatchObject({ name: 'Bike shop (Jens)' })
    await session.close()
  })

  it('a verified name names a business nobody saved (before its push name)', async () => {
    const { session, sock } = await working()
    const shop = pn(8002)
    await sock.receive([
      waMessage({
        key: { remoteJid: shop, fromMe: false, id: 'BIZ2' },
        messageTimestamp: T0 / 1000,
        pushName: 'Velo',
        verifiedBizName: 'Velo Store GmbH',
        message: { conversation: 'Hello' },
      }),
    ])
    await vi.waitFor(async () => expect(await contactName(shop)).toBe('Velo Store GmbH'))
    await session.close()
  })

  it('groups.update and groups.upsert name group chats by their subject', async () => {
    const { session, sock } = await working()
    const g1 = group(8101)
    const g2 = group(8102)
    sock.emit('groups.upsert', [{ id: g1, subject: 'Team Berlin', owner: undefined, participants: [] }])
    // Socket/groups `groupFetchAllParticipating` (on a dirty notification) emits groups.update.
    sock.emit('groups.update', [{ id: g2, subject: 'Suppliers' }])
    await vi.waitFor(async () => {
      expect(await f.store.getChat(SID, g1)).toMatchObject({ name: 'Team Berlin' })
      expect(await f.store.getChat(SID, g2)).toMatchObject({ name: 'Suppliers' })
    })
    await session.close()
  })

  it('a group first seen through a message is named from its metadata, asked once', async () => {
    const { session, sock } = await working({
      groupNeedsName: async (sid, jid) => !(await f.store.getChat(sid, jid))?.name,
    })
    const g = group(8103)
    sock.groups.set(g, { subject: 'Wholesale orders' })
    const msg = (id: string) =>
      waMessage({
        key: { remoteJid: g, fromMe: false, id, participant: pn(8203) },
        messageTimestamp: T0 / 1000,
        message: { conversation: `order ${id}` },
      })
    await sock.receive([msg('GM1')])
    await vi.waitFor(async () =>
      expect(await f.store.getChat(SID, g)).toMatchObject({ name: 'Wholesale orders' }),
    )
    await sock.receive([msg('GM2')])
    await vi.waitFor(async () => expect((await f.store.getChat(SID, g))?.unanswered).toBe(2))
    expect(sock.calls.groupMetadata).toEqual([g])
    await session.close()
  })

  it('history sync names group chats: remembered, applied when the chat first appears, no empty chat', async () => {
    const { session, sock } = await working()
    const g = group(8104)
    // Utils/history `processHistoryMessage`: each conversation is a chat, its `name` the group subject.
    const remembered = applied((e) => e.type === 'chat.meta' && e.chatJid === g)
    sock.emit('messaging-history.set', {
      chats: [{ id: g, name: 'Family', conversationTimestamp: T0 / 1000 - 86_400 }],
      contacts: [],
      messages: [],
      isLatest: true,
    })
    await remembered
    expect(await f.store.getChat(SID, g)).toBeNull()
    await sock.receive([
      waMessage({
        key: { remoteJid: g, fromMe: false, id: 'HG1', participant: pn(8204) },
        messageTimestamp: T0 / 1000,
        message: { conversation: 'hi all' },
      }),
    ])
    await vi.waitFor(async () =>
      expect(await f.store.getChat(SID, g)).toMatchObject({ name: 'Family', unanswered: 1 }),
    )
    await session.close()
  })
})
