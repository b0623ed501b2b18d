import { type BaileysEventMap, initAuthCreds, WAMessageStatus } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import { T0 } from '../helpers/events.js'
import { FAKE_ME, FakeWASocket, memoryAuth, waMessage } from '../helpers/fake-wa-socket.js'

/**
 * The fake socket produces events the way Baileys does (its own event buffer, app-state codec and
 * processMessage run inside it). These tests pin the Baileys behaviours the adapter's tests rely on.
 */
const PN = '4915112345678@s.whatsapp.net'
const GROUP = '120363000000000042@g.us'

function socket(config: { emitOwnEvents?: boolean } = {}) {
  const auth = memoryAuth()
  auth.state.creds.me = { ...FAKE_ME }
  const sock = new FakeWASocket({ auth: auth.state, ...config } as never)
  const batches: Array<Partial<BaileysEventMap>> = []
  sock.ev.process(async (events) => {
    batches.push(events)
  })
  return { sock, batches }
}

const customer = (id: string, seconds: number) =>
  waMessage({
    key: { remoteJid: PN, fromMe: false, id },
    messageTimestamp: seconds,
    message: { conversation: `text ${id}` },
  })

const until = (cond: () => boolean) => expect.poll(cond, { timeout: 2000, interval: 10 }).toBe(true)

describe('the Baileys-faithful fake socket', () => {
  it('a buffered read (0) followed by a message (+1) flushes as ONE chats.update with unreadCount 1', async () => {
    const { sock, batches } = socket()
    sock.open()
    await sock.offline(async () => {
      await sock.otherDeviceModifies(
        {
          markRead: true,
          lastMessages: [{ key: customer('M0', T0 / 1000).key, messageTimestamp: T0 / 1000 }],
        },
        PN,
      )
      await sock.receive([customer('M1', T0 / 1000 + 5)])
    })
    await until(() => batches.some((b) => b['chats.update']))
    const updates = batches.flatMap((b) => b['chats.update'] ?? [])
    expect(updates).toHaveLength(1)
    expect(updates[0]).toMatchObject({ id: PN, unreadCount: 1 })
  })

  it('our own chatModify comes back as chats.update by default (emitOwnEvents), not with emitOwnEvents: false', async () => {
    const a = socket()
    a.sock.open()
    const lastMessages = [{ key: customer('M1', T0 / 1000).key, messageTimestamp: T0 / 1000 }]
    await a.sock.chatModify({ markRead: true, lastMessages }, PN)
    await a.sock.chatModify({ archive: true, lastMessages }, PN)
    await until(() => a.batches.length >= 2)
    expect(a.batches.flatMap((b) => b['chats.update'] ?? [])).toMatchObject([
      { id: PN, unreadCount: 0 },
      { id: PN, archived: true },
    ])

    const b = socket({ emitOwnEvents: false })
    b.sock.open()
    await b.sock.chatModify({ markRead: true, lastMessages }, PN)
    expect(b.batches.flatMap((x) => x['chats.update'] ?? [])).toEqual([])
  })

  it('chatModify before the phone shared its app-state key fails as Baileys does', async () => {
    const sock = new FakeWASocket(
      { auth: { creds: initAuthCreds(), keys: memoryAuth().state.keys } } as never,
      {
        shareAppStateKey: false,
      },
    )
    sock.open()
    await expect(
      sock.chatModify(
        { markRead: false, lastMessages: [{ key: customer('M', 1).key, messageTimestamp: 1 }] },
        PN,
      ),
    ).rejects.toThrow('App state key not present!')
  })

  it('reads on our other devices arrive as receipts: messages.update READ (1:1), message-receipt.update (group)', async () => {
    const { sock, batches } = socket()
    sock.open()
    sock.otherDeviceReads(
      [
        { remoteJid: PN, fromMe: false, id: 'D1' },
        { remoteJid: GROUP, fromMe: false, id: 'G1', participant: '777777777777777@lid' },
      ],
      T0 / 1000 + 9,
    )
    await until(() => batches.some((b) => b['messages.update']))
    const batch = batches.find((b) => b['messages.update'])!
    expect(batch['messages.update']).toEqual([
      {
        key: { remoteJid: PN, id: 'D1', fromMe: false, participant: undefined },
        update: { status: WAMessageStatus.READ, messageTimestamp: T0 / 1000 + 9 },
      },
    ])
    expect(batch['message-receipt.update']).toEqual([
      {
        key: { remoteJid: GROUP, id: 'G1', fromMe: false, participant: FAKE_ME.id },
        receipt: { userJid: '4915100000001@s.whatsapp.net', readTimestamp: T0 / 1000 + 9 },
      },
    ])
  })
})
