import { afterEach, describe, expect, it } from 'vitest'
import { type Box, startBox } from './box.js'
import { type BoxSocket, connect, linkedAuth } from './client.js'

let box: Box
const sockets: BoxSocket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.sock.end(undefined)
  await box?.close()
})

describe('wa-box: presence and chat states', () => {
  it('records unavailable on connect (markOnlineOnConnect false), then available, composing and paused in order', async () => {
    box = await startBox({ pushName: 'Acme Sales' })
    const c = connect(box, linkedAuth(box))
    sockets.push(c)
    await c.next((u) => u.connection === 'open')
    await box.records.waitFor(() => box.records.presences.some((p) => p.type))
    const jo = box.customers.add('4917656789012', 'Jo')
    await c.sock.sendPresenceUpdate('available')
    await c.sock.sendPresenceUpdate('composing', jo.lidJid)
    await c.sock.sendPresenceUpdate('paused', jo.lidJid)
    await box.records.waitFor(() => box.records.chatStates.length >= 2)
    // (Baileys also sends a bare <presence/> on every creds.update that carries no `me`: its
    // `creds.update` handler compares `update.me?.name` with the saved name; those have no type)
    expect(box.records.presences.filter((p) => p.type).map((p) => [p.type, p.name])).toEqual([
      ['unavailable', 'Acme Sales'],
      ['available', 'Acme Sales'],
    ])
    expect(box.records.chatStates.map((s) => [s.to, s.state])).toEqual([
      [jo.lidJid, 'composing'],
      [jo.lidJid, 'paused'],
    ])
  })
})
