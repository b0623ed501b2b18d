// The service's own Baileys adapter (src/whatsapp/baileys/transport.ts), unchanged, with a real Baileys
// socket talking to the box instead of a fake socket.

import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { type BaileysSession, BaileysTransport } from '../../src/whatsapp/baileys/transport.js'
import type { SessionStatus } from '../../src/whatsapp/port.js'
import { type Box, startBox } from './box.js'
import { boxSocketConfig, linkedAuth, type MemoryAuth, memoryAuth } from './client.js'

let box: Box
let session: BaileysSession | undefined
afterEach(async () => {
  await session?.close()
  session = undefined
  await box?.close()
})

function transportOn(auth: MemoryAuth) {
  const statuses: Array<{ status: SessionStatus; qr?: string }> = []
  const events: Array<Record<string, unknown>> = []
  const waiters = new Set<() => void>()
  const changed = () => {
    for (const w of [...waiters]) w()
  }
  const until = <T>(check: () => T | undefined | false) =>
    new Promise<T>((resolve) => {
      const tryIt = () => {
        const v = check()
        if (!v) return
        waiters.delete(tryIt)
        resolve(v)
      }
      waiters.add(tryIt)
      tryIt()
    })
  const { waWebSocketUrl, version, logger } = boxSocketConfig(box, auth.state)
  const transport = new BaileysTransport({
    authState: async () => ({ state: auth.state, saveCreds: async () => {}, wipe: async () => {} }),
    log: pino({ level: 'silent' }),
    onStatus: async (_sid, status, extra) => {
      statuses.push({ status, ...(extra.qr ? { qr: extra.qr } : {}) })
      changed()
    },
    socketConfig: { waWebSocketUrl, version, logger },
  })
  const sink = async (event: unknown) => {
    events.push(event as Record<string, unknown>)
    changed()
  }
  return { transport, sink, statuses, events, until }
}

describe("the service's Baileys transport through the box", () => {
  it('a linked session becomes WORKING, a customer message reaches the sink, and readMessages gives blue ticks', async () => {
    box = await startBox()
    const t = transportOn(linkedAuth(box))
    session = await t.transport.open('sales-de', t.sink)
    await t.until(() => t.statuses.some((s) => s.status === 'WORKING'))
    const ida = box.customers.add('4917611223344', 'Ida')
    const id = await ida.sendText('Wann kommt die Lieferung?')
    const event = await t.until(() =>
      t.events.find((e) => e.type === 'message' && (e.key as { id: string }).id === id),
    )
    expect(event).toMatchObject({
      type: 'message',
      key: { remoteJid: ida.lidJid, fromMe: false, id },
      chatJidAlt: ida.pnJid,
      text: 'Wann kommt die Lieferung?',
      pushName: 'Ida',
      delivery: 'live',
    })
    await session.readMessages([{ remoteJid: ida.lidJid, fromMe: false, id }])
    const ticks = await box.records.waitFor(
      () => box.inspect.blueTicks(ida).size > 0 && box.inspect.blueTicks(ida),
    )
    expect([...ticks.keys()]).toEqual([id])
  })

  it('a new session shows a QR; the box phone scans it; after 515 the session is WORKING with saved creds', async () => {
    box = await startBox()
    const auth = memoryAuth()
    const t = transportOn(auth)
    session = await t.transport.open('support-at', t.sink)
    const qr = await t.until(() => t.statuses.find((s) => s.status === 'SCAN_QR_CODE' && s.qr)?.qr)
    const device = await box.phone.scan(qr)
    await t.until(() => t.statuses.some((s) => s.status === 'WORKING'))
    expect(auth.state.creds.me?.id).toBe(device.jid)
    expect(box.account.devices.get(device.id)?.wire?.closed).toBe(false)
  })
})
