import { DisconnectReason } from '@whiskeysockets/baileys'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { BACKOFF_CAP_MS, decideOnClose } from '../../src/whatsapp/baileys/lifecycle.js'
import type { BaileysSession } from '../../src/whatsapp/baileys/transport.js'
import { fakeBaileys, waMessage } from '../helpers/fake-wa-socket.js'

const SID = 'support-de'
const noSink = async () => {}
/** Lets the adapter's promise chains (status reports, saves, wipes) settle. */
const settle = () => vi.advanceTimersByTimeAsync(0)

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('decideOnClose', () => {
  const half = () => 0.5

  it('515 restarts at once with the same auth; a repeated 515 before opening backs off', () => {
    expect(decideOnClose(DisconnectReason.restartRequired, 0, half)).toMatchObject({
      action: 'restart',
      delayMs: 0,
      status: 'STARTING',
    })
    expect(decideOnClose(515, 3, half)).toMatchObject({ action: 'restart', delayMs: 4_000 })
  })

  it('401 is logged out (FAILED, pair again); 440 is replaced (FAILED, no loop)', () => {
    expect(decideOnClose(DisconnectReason.loggedOut, 0, half)).toEqual({
      action: 'logged-out',
      delayMs: 0,
      status: 'FAILED',
      detail: 'logged out: pair again',
    })
    expect(decideOnClose(DisconnectReason.connectionReplaced, 5, half)).toEqual({
      action: 'replaced',
      delayMs: 0,
      status: 'FAILED',
      detail: 'connection replaced by another client',
    })
  })

  it('411 (multi-device mismatch) is terminal: FAILED with its reason, no reconnect', () => {
    expect(decideOnClose(DisconnectReason.multideviceMismatch, 0, half)).toMatchObject({
      action: 'mismatch',
      status: 'FAILED',
      detail: expect.stringContaining('411 multi-device mismatch'),
    })
  })

  it('2.7 403 (forbidden, usually a ban) is terminal: FAILED with a clear detail, no reconnect', () => {
    expect(decideOnClose(403, 0, half)).toMatchObject({
      action: 'forbidden',
      status: 'FAILED',
      detail: expect.stringContaining('403 forbidden'),
    })
  })

  it('anything else reconnects with full-jitter exponential backoff (base 1 s, cap 60 s)', () => {
    for (const code of [408, 428, 500, 503, undefined]) {
      const d = decideOnClose(code, 0, half)
      expect(d, String(code)).toMatchObject({ action: 'reconnect', status: 'STARTING', delayMs: 500 })
    }
    expect(decideOnClose(408, 0, () => 0).delayMs).toBe(0)
    expect(decideOnClose(408, 0, () => 0.999).delayMs).toBe(999)
    expect(decideOnClose(408, 4, () => 0.999).delayMs).toBe(15_984)
    expect(decideOnClose(408, 6, () => 0.999).delayMs).toBe(59_940)
    expect(decideOnClose(408, 50, () => 0.999999).delayMs).toBeLessThan(BACKOFF_CAP_MS)
    expect(decideOnClose(408, 50, () => 1).delayMs).toBe(BACKOFF_CAP_MS)
    expect(decideOnClose(408, 2, half).detail).toBe(
      'connection lost or timed out (408): reconnecting in 2.0 s',
    )
  })
})

describe('BaileysTransport lifecycle', () => {
  it('opens a socket configured for a worker and reports STARTING', async () => {
    const getMessage = vi.fn(async () => ({ conversation: 'stored' }))
    const h = fakeBaileys({ getMessage })
    const session = await h.transport.open(SID, noSink)
    await settle()
    const { config } = h.sockets.last()
    expect(config).toMatchObject({
      markOnlineOnConnect: false,
      syncFullHistory: false,
      printQRInTerminal: false,
    })
    expect(config.shouldSyncHistoryMessage).toBeUndefined()
    expect(config.logger).toBeDefined()
    expect(config.auth.creds).toBe(h.auth(SID).state.creds)
    const key = { remoteJid: '4915112345678@s.whatsapp.net', id: 'X', fromMe: true }
    await expect(config.getMessage?.(key)).resolves.toEqual({ conversation: 'stored' })
    expect(getMessage).toHaveBeenCalledWith(SID, key)
    expect(session.status()).toBe('STARTING')
    expect(h.statusNames()).toEqual(['STARTING'])
    await session.close()
  })

  it('qr -> SCAN_QR_CODE with the QR string; open -> WORKING; creds.update -> saveCreds', async () => {
    const h = fakeBaileys({}, { shareAppStateKey: false })
    const session = await h.transport.open(SID, noSink)
    const sock = h.sockets.last()
    sock.qr('2@abcdefghijklmnop,xyz==,pub==,adv==')
    await settle()
    expect(session.status()).toBe('SCAN_QR_CODE')
    expect(h.statuses.at(-1)).toMatchObject({
      status: 'SCAN_QR_CODE',
      qr: '2@abcdefghijklmnop,xyz==,pub==,adv==',
    })
    sock.emit('creds.update', { registered: true })
    sock.open()
    await settle()
    expect(session.status()).toBe('WORKING')
    expect(h.auth(SID).saves).toBe(1)
    await session.close()
  })

  it('515: a new socket with the SAME auth state object, no wipe, then WORKING', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, noSink)
    const first = h.sockets.last()
    first.qr('qr-1')
    first.drop(DisconnectReason.restartRequired)
    await settle()
    expect(h.sockets.sockets).toHaveLength(2)
    const second = h.sockets.last()
    expect(second).not.toBe(first)
    expect(second.config.auth).toBe(first.config.auth)
    expect(second.config.auth.creds).toBe(h.auth(SID).state.creds)
    expect(h.auth(SID).wipes).toBe(0)
    second.open()
    await settle()
    expect(session.status()).toBe('WORKING')
    expect(h.statusNames()).toEqual(['STARTING', 'SCAN_QR_CODE', 'STARTING', 'WORKING'])
    await session.close()
  })

  it('401: wipes the auth, FAILED "logged out: pair again", no new socket, no later creds save', async () => {
    const h = fakeBaileys({}, { shareAppStateKey: false })
    const session = await h.transport.open(SID, noSink)
    const sock = h.sockets.last()
    sock.open()
    sock.drop(DisconnectReason.loggedOut)
    await settle()
    expect(h.auth(SID).wipes).toBe(1)
    expect(session.status()).toBe('FAILED')
    expect(h.statuses.at(-1)).toMatchObject({ status: 'FAILED', detail: 'logged out: pair again' })
    sock.emit('creds.update', { registered: false })
    await vi.advanceTimersByTimeAsync(120_000)
    expect(h.sockets.sockets).toHaveLength(1)
    expect(h.auth(SID).saves).toBe(0)
    await session.close()
  })

  it('440: FAILED "connection replaced by another client", no reconnect loop, auth kept', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, noSink)
    h.sockets.last().open()
    h.sockets.last().drop(DisconnectReason.connectionReplaced)
    await vi.advanceTimersByTimeAsync(120_000)
    expect(h.sockets.sockets).toHaveLength(1)
    expect(session.status()).toBe('FAILED')
    expect(h.statuses.at(-1)).toMatchObject({
      status: 'FAILED',
      detail: 'connection replaced by another client',
    })
    expect(h.auth(SID).wipes).toBe(0)
    await session.close()
  })

  it('408: reconnects after the jittered backoff, then WORKING; the backoff grows until a connection opens', async () => {
    const h = fakeBaileys({ rand: () => 0.5 })
    const session = await h.transport.open(SID, noSink)
    h.sockets.last().open()
    await settle()
    h.sockets.last().drop(DisconnectReason.timedOut)
    await settle()
    expect(session.status()).toBe('STARTING')
    await vi.advanceTimersByTimeAsync(499)
    expect(h.sockets.sockets).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(h.sockets.sockets).toHaveLength(2)
    expect(h.sockets.last().config.auth).toBe(h.sockets.sockets[0]!.config.auth)

    // Second close without ever opening: attempt 1 -> up to 2 s, half of it with rand 0.5.
    h.sockets.last().drop(DisconnectReason.connectionLost)
    await vi.advanceTimersByTimeAsync(999)
    expect(h.sockets.sockets).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(h.sockets.sockets).toHaveLength(3)
    h.sockets.last().open()
    await settle()
    expect(session.status()).toBe('WORKING')

    // A connection that stayed open 60 s resets the attempts: the next drop waits 500 ms again.
    await vi.advanceTimersByTimeAsync(60_000)
    h.sockets.last().drop(DisconnectReason.unavailableService)
    await vi.advanceTimersByTimeAsync(500)
    expect(h.sockets.sockets).toHaveLength(4)
    await session.close()
  })

  it('close() cancels a pending reconnect, ends the socket, ignores its close event and reports STOPPED', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, noSink)
    h.sockets.last().drop(undefined)
    await settle()
    const closing = session.close()
    await vi.advanceTimersByTimeAsync(120_000)
    await closing
    expect(h.sockets.sockets).toHaveLength(1)
    expect(session.status()).toBe('STOPPED')
    expect(h.statuses.at(-1)).toMatchObject({ status: 'STOPPED' })

    const h2 = fakeBaileys()
    const live = await h2.transport.open(SID, noSink)
    h2.sockets.last().open()
    await live.close()
    await vi.advanceTimersByTimeAsync(120_000)
    expect(h2.sockets.last().calls.end).toEqual([undefined])
    expect(h2.sockets.sockets).toHaveLength(1)
    expect(h2.statusNames()).toEqual(['STARTING', 'WORKING', 'STOPPED'])
  })

  it('logout(): sock.logout, then wipe; no FAILED from the resulting 401 and no reconnect', async () => {
    const h = fakeBaileys()
    const session = (await h.transport.open(SID, noSink)) as BaileysSession
    h.sockets.last().open()
    await session.logout()
    await vi.advanceTimersByTimeAsync(120_000)
    expect(h.sockets.last().calls.logout).toBe(1)
    expect(h.auth(SID).wipes).toBe(1)
    expect(h.sockets.sockets).toHaveLength(1)
    expect(session.status()).toBe('STOPPED')
    expect(h.statusNames()).toEqual(['STARTING', 'WORKING', 'STOPPED'])
    expect(h.statuses.at(-1)?.detail).toBe('logged out: pair again')
  })

  it('2.6 requestPairingCode asks on a FRESH socket once it reaches the pairing stage', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, noSink)
    const first = h.sockets.last()
    first.qr('qr-1')
    await settle()
    const code = session.requestPairingCode('+49 151 12345678')
    await settle()
    expect(h.sockets.sockets).toHaveLength(2)
    expect(first.ended).toBe(true)
    expect(first.calls.pairingCode).toEqual([])
    const fresh = h.sockets.last()
    fresh.qr('qr-2')
    const got = await code
    expect(got).toMatch(/^CODE\d{4}$/)
    expect(fresh.calls.pairingCode).toEqual(['4915112345678'])
    expect(h.statuses.at(-1)).toMatchObject({
      status: 'SCAN_QR_CODE',
      detail: expect.stringContaining(`pairing code for +4915112345678: ${got}`),
    })
    await expect(session.requestPairingCode('not a number')).rejects.toThrow(/international format/)
    await session.close()
  })

  it('2.6 a socket that closes before the phone confirmed: creds reset, the next socket asks again', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, noSink)
    const code = session.requestPairingCode('4915112345678')
    await settle()
    const s1 = h.sockets.last()
    s1.qr('qr-1')
    const first = await code
    expect(h.auth(SID).state.creds.me?.id).toBe('4915112345678@s.whatsapp.net')
    // The code was not entered in time: WhatsApp closes the socket; creds are half written.
    s1.drop(DisconnectReason.timedOut)
    await vi.advanceTimersByTimeAsync(2_000)
    const s2 = h.sockets.last()
    expect(s2).not.toBe(s1)
    // Fresh creds for the next socket: Baileys would otherwise log in with the half-written ones.
    expect(s2.config.auth.creds.me).toBeUndefined()
    expect(s2.config.auth.creds.pairingCode).toBeUndefined()
    expect(s2.config.auth.creds).toBe(h.auth(SID).state.creds)
    expect(h.auth(SID).wipes).toBe(1)
    s2.qr('qr-2')
    await settle()
    expect(s2.calls.pairingCode).toEqual(['4915112345678'])
    const detail = h.statuses.at(-1)?.detail ?? ''
    expect(detail).toContain('pairing code for +4915112345678')
    expect(detail).not.toContain(first)
    // The phone confirms: registered, then 515 restart and open; nothing is reset any more.
    s2.phoneConfirmsCode()
    s2.drop(DisconnectReason.restartRequired)
    await vi.advanceTimersByTimeAsync(10_000)
    // The first socket (replaced for the code), s1, s2, and the one after the 515.
    expect(h.sockets.sockets).toHaveLength(4)
    h.sockets.last().open()
    await settle()
    expect(session.status()).toBe('WORKING')
    expect(h.auth(SID).state.creds.registered).toBe(true)
    expect(h.auth(SID).wipes).toBe(1)
    await session.close()
  })

  it('2.6 a WhatsApp that cannot be reached says so in the status detail', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, noSink)
    // Socket/socket.js mapWebSocketError: Boom('WebSocket Error (<msg>)', { statusCode: 408, data: err })
    const wsError = Object.assign(new Error('getaddrinfo ENOTFOUND web.whatsapp.com'), { code: 'ENOTFOUND' })
    void h.sockets.last().end(
      Object.assign(new Error('WebSocket Error (getaddrinfo ENOTFOUND web.whatsapp.com)'), {
        isBoom: true,
        output: { statusCode: 408, payload: {} },
        data: wsError,
      }),
    )
    await settle()
    expect(h.statuses.at(-1)).toMatchObject({
      status: 'STARTING',
      detail: expect.stringMatching(
        /^WhatsApp unreachable: getaddrinfo ENOTFOUND web\.whatsapp\.com: reconnecting/,
      ),
    })
    await session.close()
  })
})

describe('terminal closes, buffered events and retry counters (issue 14)', () => {
  it('2.7 a 403 close: FAILED with the ban detail and no new socket, ever', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, noSink)
    h.sockets.last().open()
    await settle()
    h.sockets.last().drop(DisconnectReason.forbidden)
    await vi.advanceTimersByTimeAsync(300_000)
    expect(h.sockets.sockets).toHaveLength(1)
    expect(session.status()).toBe('FAILED')
    expect(h.statuses.at(-1)?.detail).toMatch(/403 forbidden/)
    await session.close()
  })

  it('2.7 QR codes nobody scans: after 3 QR sockets the session STOPs with "not paired: QR not scanned"', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, noSink)
    for (let round = 0; round < 3; round++) {
      await vi.advanceTimersByTimeAsync(60_000)
      const sock = h.sockets.last()
      sock.qr(`qr-${round}`)
      // Socket/socket.js: when the QR refs run out, Baileys ends the socket with 408.
      sock.drop(DisconnectReason.timedOut)
      await settle()
    }
    await vi.advanceTimersByTimeAsync(300_000)
    expect(h.sockets.sockets).toHaveLength(3)
    expect(session.status()).toBe('STOPPED')
    expect(h.statuses.at(-1)).toMatchObject({ status: 'STOPPED', detail: 'not paired: QR not scanned' })
    await session.close()
  })

  /** An open session whose socket holds one customer message in Baileys' event buffer, not yet flushed. */
  async function sessionWithBufferedMessage(id: string, text: string) {
    const delivered: string[] = []
    const h = fakeBaileys()
    const session = await h.transport.open(SID, async (e) => {
      delivered.push((e as { key?: { id: string } }).key?.id ?? (e as { type: string }).type)
    })
    const sock = h.sockets.last()
    sock.open()
    await settle()
    sock.ev.buffer()
    sock.emit('messages.upsert', {
      type: 'notify',
      messages: [
        waMessage({
          key: { remoteJid: '4915112345678@s.whatsapp.net', fromMe: false, id },
          messageTimestamp: 1_763_629_200,
          message: { conversation: text },
        }),
      ],
    })
    return { session, sock, delivered }
  }

  it('2.8 close() delivers what is still in Baileys’ event buffer', async () => {
    const { session, delivered } = await sessionWithBufferedMessage('BUFFERED1', 'still in the buffer')
    await session.close()
    expect(delivered).toEqual(['BUFFERED1'])
  })

  it('2.8 a socket WhatsApp closes delivers its buffered events before Baileys destroys the buffer', async () => {
    const { session, sock, delivered } = await sessionWithBufferedMessage(
      'BUFFERED2',
      'arrived just before the drop',
    )
    sock.drop(DisconnectReason.connectionLost)
    await settle()
    expect(delivered).toEqual(['BUFFERED2'])
    await session.close()
  })

  it('2.9 every socket of a session gets the SAME msgRetryCounterCache', async () => {
    const h = fakeBaileys()
    const session = await h.transport.open(SID, noSink)
    h.sockets.last().open()
    await settle()
    h.sockets.last().drop(DisconnectReason.connectionLost)
    await vi.advanceTimersByTimeAsync(2_000)
    expect(h.sockets.sockets).toHaveLength(2)
    const [a, b] = h.sockets.sockets.map((s) => s.config.msgRetryCounterCache)
    expect(a).toBeDefined()
    expect(b).toBe(a)
    await a!.set('3EB0RETRIED', 2)
    expect(await b!.get('3EB0RETRIED')).toBe(2)
    await session.close()
  })
})
