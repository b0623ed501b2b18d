import { DisconnectReason } from '@whiskeysockets/baileys'
import { afterEach, describe, expect, it } from 'vitest'
import { type Box, startBox } from './box.js'
import { type BoxSocket, connect, linkedAuth } from './client.js'
import type { FaultMoment, StreamFault } from './faults.js'

let box: Box
const sockets: BoxSocket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.sock.end(undefined)
  await box?.close()
})

async function linkedSocket(overrides = {}) {
  const auth = linkedAuth(box)
  const c = connect(box, auth, overrides)
  sockets.push(c)
  return { auth, c }
}

const cases: Array<{ name: string; fault: StreamFault; when: FaultMoment; code: number; opened: boolean }> = [
  {
    name: 'stream:error 500',
    fault: { kind: 'stream-error', code: 500 },
    when: 'after-open',
    code: DisconnectReason.badSession,
    opened: true,
  },
  {
    name: 'stream:error 503',
    fault: { kind: 'stream-error', code: 503 },
    when: 'after-open',
    code: DisconnectReason.unavailableService,
    opened: true,
  },
  {
    name: 'stream:error 515',
    fault: { kind: 'stream-error', code: 515 },
    when: 'after-open',
    code: DisconnectReason.restartRequired,
    opened: true,
  },
  {
    name: 'xmlstreamend',
    fault: { kind: 'stream-end' },
    when: 'after-open',
    code: DisconnectReason.connectionClosed,
    opened: true,
  },
  {
    name: 'a bare close',
    fault: { kind: 'close' },
    when: 'after-open',
    code: DisconnectReason.connectionClosed,
    opened: true,
  },
  {
    name: 'conflict (replaced)',
    fault: { kind: 'conflict' },
    when: 'after-open',
    code: DisconnectReason.connectionReplaced,
    opened: true,
  },
  {
    name: 'device removed while connected',
    fault: { kind: 'device-removed' },
    when: 'after-open',
    code: DisconnectReason.loggedOut,
    opened: true,
  },
  {
    name: 'downgrade_webclient',
    fault: { kind: 'downgrade' },
    when: 'after-open',
    code: DisconnectReason.multideviceMismatch,
    opened: true,
  },
  {
    name: 'failure 401 at login',
    fault: { kind: 'failure', reason: 401 },
    when: 'at-login',
    code: DisconnectReason.loggedOut,
    opened: false,
  },
  {
    name: 'failure 403 at login (banned)',
    fault: { kind: 'failure', reason: 403 },
    when: 'at-login',
    code: DisconnectReason.forbidden,
    opened: false,
  },
]

describe('wa-box: faults on demand surface in Baileys connection.update', () => {
  for (const { name, fault, when, code, opened } of cases) {
    it(`${name} → ${code}${opened ? ' right after open' : ' without open'}`, async () => {
      box = await startBox()
      box.faults.onNextLogin(fault, when)
      const { c } = await linkedSocket()
      expect(await c.closeCode()).toBe(code)
      expect(c.updates.some((u) => u.connection === 'open')).toBe(opened)
    })
  }

  it('a device the phone no longer knows is refused with 401 at login', async () => {
    box = await startBox()
    const auth = linkedAuth(box)
    const device = box.account.devices.get(1)
    if (device) box.phone.unlink(device)
    const c = connect(box, auth)
    sockets.push(c)
    expect(await c.closeCode()).toBe(DisconnectReason.loggedOut)
  })

  it('a second socket with the same creds takes the device; the older one is closed with 440', async () => {
    box = await startBox()
    const { auth, c: first } = await linkedSocket()
    await first.next((u) => u.connection === 'open')
    const second = connect(box, auth)
    sockets.push(second)
    await second.next((u) => u.connection === 'open')
    expect(await first.closeCode()).toBe(DisconnectReason.connectionReplaced)
    expect(second.updates.some((u) => u.connection === 'close')).toBe(false)
    expect(box.account.devices.get(1)?.wire?.closed).toBe(false)
  })

  it('an IQ the server never answers: Baileys resolves the query with undefined after its timeout, callers then throw', async () => {
    box = await startBox()
    const { c } = await linkedSocket({ defaultQueryTimeoutMs: 400 })
    await c.next((u) => u.connection === 'open')
    box.faults.neverAnswer((iq) => iq.attrs.xmlns === 'privacy')
    // `Socket/socket` `waitForMessage` turns its own 408 into `undefined`, so `query` does not reject ...
    const started = Date.now()
    const answer = await c.sock.query({
      tag: 'iq',
      attrs: { to: '@s.whatsapp.net', xmlns: 'privacy', type: 'get' },
    })
    expect(answer).toBeUndefined()
    expect(Date.now() - started).toBeGreaterThanOrEqual(400)
    // ... and a caller that reads the answer fails with a TypeError, not a Boom with a status code
    await expect(c.sock.fetchPrivacySettings(true)).rejects.toThrow(TypeError)
    expect(c.updates.some((u) => u.connection === 'close')).toBe(false)
  })

  it('a slow server delays every answer: the login takes at least its five round trips', async () => {
    box = await startBox()
    box.faults.slow(150)
    const started = Date.now()
    const { c } = await linkedSocket()
    await c.next((u) => u.connection === 'open')
    // success, pre-key count, pre-key upload, passive, digest: five stanzas the box sends in sequence
    expect(Date.now() - started).toBeGreaterThanOrEqual(5 * 150)
  })
})
