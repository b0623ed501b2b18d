import type { WAMessage } from '@whiskeysockets/baileys'
import { afterEach, describe, expect, it } from 'vitest'
import { type Box, startBox } from './box.js'
import { type BoxSocket, connect, linkedAuth, type MemoryAuth } from './client.js'

let box: Box
const sockets: BoxSocket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.sock.end(undefined)
  await box?.close()
})

async function open(auth: MemoryAuth) {
  const c = connect(box, auth)
  sockets.push(c)
  const messages: WAMessage[] = []
  c.sock.ev.on('messages.upsert', ({ messages: m }) => messages.push(...m))
  await c.next((u) => u.connection === 'open')
  await c.next((u) => u.receivedPendingNotifications === true)
  return { c, messages }
}

describe('wa-box: app state', () => {
  it('withheld key: chatModify fails with "App state key not present!"', async () => {
    box = await startBox()
    const { c, messages } = await open(linkedAuth(box))
    const gina = box.customers.add('4917645454545', 'Gina')
    const id = await gina.sendText('Hi')
    const msg = await box.records.waitFor(() => messages.find((m) => m.key.id === id))
    await expect(
      c.sock.chatModify(
        { archive: true, lastMessages: [{ key: msg.key, messageTimestamp: msg.messageTimestamp }] },
        gina.lidJid,
      ),
    ).rejects.toThrow('App state key not present!')
    expect(box.inspect.appStateVersions().regular_low).toBe(0)
  })

  it('shared key: archive and mark-unread land in the app state the phone shows; a fresh device resyncs them', async () => {
    box = await startBox()
    const auth = linkedAuth(box)
    const { c, messages } = await open(auth)
    const keyId = await box.phone.shareAppStateKey()
    await box.records.waitFor(() => auth.state.creds.myAppStateKeyId === keyId)

    const hugo = box.customers.add('4917656565656', 'Hugo')
    const id = await hugo.sendText('Bitte zurückrufen')
    const msg = await box.records.waitFor(() => messages.find((m) => m.key.id === id))
    const lastMessages = [{ key: msg.key, messageTimestamp: msg.messageTimestamp }]
    await c.sock.chatModify({ markRead: false, lastMessages }, hugo.lidJid)
    await c.sock.chatModify({ archive: true, lastMessages }, hugo.lidJid)

    expect(await box.inspect.appStateOf(hugo)).toEqual({ archived: true, markedRead: false })
    expect(box.inspect.appStateVersions().regular_low).toBe(2)

    // a second linked device gets the keys and resyncs from version 0: Baileys' own decoding (with MAC
    // checks) of the patches the first device wrote reaches the same version and the same LT hash
    const auth2 = linkedAuth(box)
    const second = await open(auth2)
    await box.phone.shareAppStateKey()
    await box.records.waitFor(() => auth2.state.creds.myAppStateKeyId === keyId)
    await second.c.sock.resyncAppState(['regular_low'], false)
    const stateOf = async (a: MemoryAuth) =>
      (await a.state.keys.get('app-state-sync-version', ['regular_low'])).regular_low
    const [first, resynced] = [await stateOf(auth), await stateOf(auth2)]
    expect(resynced?.version).toBe(2)
    expect(Buffer.from(resynced?.hash ?? []).equals(Buffer.from(first?.hash ?? []))).toBe(true)
  })
})
