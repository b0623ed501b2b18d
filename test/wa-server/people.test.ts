import { proto, type WAMessage } from '@whiskeysockets/baileys'
import { afterEach, describe, expect, it } from 'vitest'
import { type Box, startBox } from './box.js'
import { type BoxSocket, connect, linkedAuth, type MemoryAuth } from './client.js'

let box: Box
const sockets: BoxSocket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.sock.end(undefined)
  await box?.close()
})

/** A socket that collects `messages.upsert` and resolves waiters on each. */
function upserts(c: BoxSocket) {
  const seen: Array<{ type: string; msg: WAMessage }> = []
  const waiters: Array<() => void> = []
  c.sock.ev.on('messages.upsert', ({ messages, type }) => {
    for (const msg of messages) seen.push({ type, msg })
    for (const w of waiters.splice(0)) w()
  })
  const until = async (n: number) => {
    while (seen.length < n) await new Promise<void>((r) => waiters.push(r))
    return seen
  }
  return { seen, until }
}

async function openSocket(auth: MemoryAuth) {
  const c = connect(box, auth)
  sockets.push(c)
  const ups = upserts(c)
  await c.next((u) => u.connection === 'open')
  await c.next((u) => u.receivedPendingNotifications === true)
  return { c, ups }
}

describe('wa-box: customers are Signal devices; Baileys decrypts, receipts and reads land on the box', () => {
  it('a customer message arrives as notify with push name and verified name; reading it gives the customer blue ticks', async () => {
    box = await startBox()
    const { c, ups } = await openSocket(linkedAuth(box))
    const anna = box.customers.add('4917611112222', 'Anna')
    const id = await anna.sendText('Hallo, ist das Paket unterwegs?', { verifiedName: 'Anna GmbH' })
    const [{ type, msg }] = (await ups.until(1)) as [{ type: string; msg: WAMessage }]
    expect(type).toBe('notify')
    expect(msg.key).toMatchObject({ id, remoteJid: anna.lidJid, remoteJidAlt: anna.pnJid, fromMe: false })
    expect(msg.message?.conversation).toBe('Hallo, ist das Paket unterwegs?')
    expect(msg.pushName).toBe('Anna')
    expect(msg.verifiedBizName).toBe('Anna GmbH')
    // Baileys confirmed delivery; no blue ticks yet
    await box.records.waitFor(() => box.inspect.delivered(anna).has(id))
    expect(box.inspect.blueTicks(anna).size).toBe(0)

    await c.sock.readMessages([msg.key])
    const ticks = await box.records.waitFor(
      () => box.inspect.blueTicks(anna).size > 0 && box.inspect.blueTicks(anna),
    )
    expect([...ticks.keys()]).toEqual([id])
  })

  it('further messages reuse the session: one pre-key used, pkmsg until our side answers (Signal)', async () => {
    box = await startBox()
    const { ups } = await openSocket(linkedAuth(box))
    const device = box.account.devices.get(1)
    const preKeysBefore = device?.preKeys.size ?? 0
    const bob = box.customers.add('4917633334444', 'Bob')
    await bob.sendText('eins')
    await bob.sendText('zwei')
    const seen = await ups.until(2)
    expect(seen.map((s) => s.msg.message?.conversation)).toEqual(['eins', 'zwei'])
    expect(device?.preKeys.size).toBe(preKeysBefore - 1)
    expect(bob.sent.map((m) => m.encTypes)).toEqual([['pkmsg'], ['pkmsg']])
  })

  it('messages sent while the device was offline arrive after the reconnect as an offline backlog (append)', async () => {
    box = await startBox()
    const auth = linkedAuth(box)
    const first = await openSocket(auth)
    const cara = box.customers.add('4917655556666', 'Cara')
    await cara.sendText('online')
    await first.ups.until(1)
    first.c.sock.end(undefined)
    await first.c.closeCode()

    const a = await cara.sendText('offline eins')
    const b = await cara.sendText('offline zwei')
    const second = connect(box, auth)
    sockets.push(second)
    const ups = upserts(second)
    const seen = await ups.until(2)
    expect(seen.map((s) => [s.type, s.msg.key.id, s.msg.message?.conversation])).toEqual([
      ['append', a, 'offline eins'],
      ['append', b, 'offline zwei'],
    ])
    await second.next((u) => u.receivedPendingNotifications === true)
  })

  it('a message our device cannot decrypt becomes a CIPHERTEXT stub and the box records a retry receipt', async () => {
    box = await startBox()
    const { ups } = await openSocket(linkedAuth(box))
    const dan = box.customers.add('4917677778888', 'Dan')
    await dan.sendText('warm-up') // a session exists, then a message arrives broken
    const id = await dan.sendText('kaputt', { undecryptable: true })
    const seen = await ups.until(2)
    const stub = seen[1]?.msg
    expect(stub?.key.id).toBe(id)
    expect(stub?.messageStubType).toBe(proto.WebMessageInfo.StubType.CIPHERTEXT)
    expect(stub?.message).toBeFalsy()
    expect(
      await box.records.waitFor(() => box.inspect.retries(dan).includes(id) && box.inspect.retries(dan)),
    ).toContain(id)
  })
})
