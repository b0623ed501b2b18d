import { DisconnectReason, proto } from '@whiskeysockets/baileys'
import { afterEach, describe, expect, it } from 'vitest'
import { type Box, startBox } from './box.js'
import { type BoxSocket, connect, memoryAuth } from './client.js'

let box: Box
const sockets: BoxSocket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.sock.end(undefined)
  await box?.close()
})

describe('wa-box: pairing by QR', () => {
  it('a new device shows a QR, the phone scans it, 515, and a new socket with the saved creds logs in', async () => {
    box = await startBox({ pushName: 'Acme Sales' })
    const auth = memoryAuth()
    const first = connect(box, auth)
    sockets.push(first)
    const { qr } = await first.next((u) => typeof u.qr === 'string')
    expect(qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#box-ref-/)

    const device = await box.phone.scan(qr ?? '')
    expect(await first.closeCode()).toBe(DisconnectReason.restartRequired)
    expect(first.updates.some((u) => u.isNewLogin === true)).toBe(true)
    // `configureSuccessfulPairing` saved who we are now; QR pairing leaves `registered` as it was
    // (Baileys sets it only on the pairing-code path, `messages-recv` `link_code_companion_reg`)
    expect(auth.state.creds.me).toMatchObject({ id: device.jid, lid: device.lidJid, name: 'Acme Sales' })
    expect(auth.state.creds.account?.accountSignatureKey).toBeTruthy()
    expect(auth.state.creds.platform).toBe('smba')

    // 515 = open a new socket with the same auth (BRIEF: connection.update)
    const second = connect(box, auth)
    sockets.push(second)
    const history = new Promise<string>((resolve) =>
      second.sock.ev.on('messaging-history.set', ({ syncType, lidPnMappings }) =>
        resolve(`${syncType}:${lidPnMappings?.length ?? 0}`),
      ),
    )
    const synced = new Promise<number | undefined>((resolve) =>
      second.sock.ev.on('creds.update', (u) => u.accountSyncCounter && resolve(u.accountSyncCounter)),
    )
    await second.next((u) => u.connection === 'open')
    expect(second.updates.some((u) => typeof u.qr === 'string')).toBe(false)
    // the phone's initial history sync ends Baileys' AwaitingInitialSync (no 20 s wait): app state is
    // synced and the first sync is counted
    expect(await history).toBe(`${proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP}:0`)
    expect(await synced).toBe(1)
    expect(box.records.iqNamespaces()).toContain('w:sync:app:state')
    expect(box.account.devices.get(device.id)?.wire?.closed).toBe(false)
  })

  it('a QR the phone never scans runs out of refs: Baileys ends with 408', async () => {
    box = await startBox()
    const c = connect(box, memoryAuth(), { qrTimeout: 50 })
    sockets.push(c)
    expect(await c.closeCode()).toBe(DisconnectReason.timedOut)
    expect(c.updates.filter((u) => typeof u.qr === 'string')).toHaveLength(6)
  })

  it('a QR the box never issued is refused and links nothing', async () => {
    box = await startBox()
    await expect(box.phone.scan('https://wa.me/settings/linked_devices#unknown-ref,a,b,c,d')).rejects.toThrow(
      /unknown QR/,
    )
    expect([...box.account.devices.keys()]).toEqual([0])
  })
})
