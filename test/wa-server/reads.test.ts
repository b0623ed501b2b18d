import { proto, type WAMessage, type WAMessageUpdate } from '@whiskeysockets/baileys'
import { afterEach, describe, expect, it } from 'vitest'
import { type Box, startBox } from './box.js'
import { type BoxSocket, connect, linkedAuth } from './client.js'

let box: Box
const sockets: BoxSocket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.sock.end(undefined)
  await box?.close()
})

async function openWithEvents() {
  const c = connect(box, linkedAuth(box))
  sockets.push(c)
  const messages: WAMessage[] = []
  const updates: WAMessageUpdate[] = []
  c.sock.ev.on('messages.upsert', ({ messages: m }) => messages.push(...m))
  c.sock.ev.on('messages.update', (u) => updates.push(...u))
  await c.next((u) => u.connection === 'open')
  await c.next((u) => u.receivedPendingNotifications === true)
  return { c, messages, updates }
}

describe('wa-box: reads', () => {
  it('with read receipts off, readMessages sends read-self: the customer sees no blue ticks, the chat is read', async () => {
    box = await startBox()
    box.account.privacy.readreceipts = 'none'
    const { c, messages } = await openWithEvents()
    const eve = box.customers.add('4917699990000', 'Eve')
    const id = await eve.sendText('Hallo?')
    const msg = await box.records.waitFor(() => messages.find((m) => m.key.id === id))
    expect(box.inspect.chat(eve).unreadCount).toBe(1)
    await c.sock.readMessages([msg.key])
    await box.records.waitFor(() => box.inspect.receiptsTo(eve).some((r) => r.type === 'read-self'))
    expect(box.inspect.blueTicks(eve).size).toBe(0)
    expect(box.inspect.chat(eve)).toEqual({ unreadCount: 0, lastReadId: id })
  })

  it('a read made on our phone reaches the linked device as a receipt with recipient → messages.update READ', async () => {
    box = await startBox()
    const { messages, updates } = await openWithEvents()
    const finn = box.customers.add('4917612121212', 'Finn')
    const a = await finn.sendText('eins')
    const b = await finn.sendText('zwei')
    await box.records.waitFor(() => messages.length >= 2)
    box.phone.readChat(finn, [a, b])
    await box.records.waitFor(() => updates.length >= 2)
    expect(updates.map((u) => [u.key.remoteJid, u.key.id, u.key.fromMe, u.update.status])).toEqual([
      [finn.lidJid, a, false, proto.WebMessageInfo.Status.READ],
      [finn.lidJid, b, false, proto.WebMessageInfo.Status.READ],
    ])
    expect([...box.inspect.blueTicks(finn).keys()]).toEqual([a, b])
    expect(box.inspect.chat(finn).unreadCount).toBe(0)
  })

  it('a read on the phone while our device was offline arrives in the same offline batch as the message: Baileys folds it into the upsert', async () => {
    box = await startBox()
    const auth = linkedAuth(box)
    const first = connect(box, auth)
    sockets.push(first)
    await first.next((u) => u.receivedPendingNotifications === true)
    first.sock.end(undefined)
    await first.closeCode()

    const gil = box.customers.add('4917634343434', 'Gil')
    const id = await gil.sendText('während du weg warst')
    box.phone.readChat(gil, [id])

    const c = connect(box, auth)
    sockets.push(c)
    const upserts: Array<{ type: string; msg: WAMessage }> = []
    const updates: WAMessageUpdate[] = []
    c.sock.ev.on('messages.upsert', ({ messages, type }) =>
      upserts.push(...messages.map((msg) => ({ type, msg }))),
    )
    c.sock.ev.on('messages.update', (u) => updates.push(...u))
    await c.next((u) => u.receivedPendingNotifications === true)
    const upsert = await box.records.waitFor(() => upserts.find((u) => u.msg.key.id === id))
    // `Utils/event-buffer`: a messages.update for a message still in the buffer is merged into it
    expect(upsert.type).toBe('append')
    expect(upsert.msg.status).toBe(proto.WebMessageInfo.Status.READ)
    expect(updates.filter((u) => u.key.id === id)).toEqual([])
  })
})
