import { pino } from 'pino'
import { describe, expect, it, vi } from 'vitest'
import { fakeBaileys } from '../helpers/fake-wa-socket.js'

/**
 * Issue 24, fault 6: an account that hides its read receipts. Socket/messages-send `readMessages` reads
 * the privacy settings (Socket/chats `fetchPrivacySettings`) and sends `read-self` instead of `read`
 * unless `readreceipts` is 'all': WhatsApp accepts it and the customer sees no blue ticks.
 */
const SID = 'support-de'
const KEY = { remoteJid: '4915112345678@s.whatsapp.net', fromMe: false, id: '3EB0HIDDEN1' }

describe('hidden read receipts (issue 24, fault 6)', () => {
  it('are told in the status detail, through the metric hook and in one log line', async () => {
    const lines: string[] = []
    const hiddenReports: Array<[string, boolean]> = []
    const h = fakeBaileys({
      log: pino({ level: 'info' }, { write: (l: string) => lines.push(l) }),
      onReadReceiptsHidden: (sid, hidden) => hiddenReports.push([sid, hidden]),
    })
    const session = await h.transport.open(SID, async () => {})
    const sock = h.sockets.last()
    sock.privacy.readreceipts = 'none'
    sock.open()
    await vi.waitFor(() => expect(session.status()).toBe('WORKING'))

    await session.readMessages([KEY])
    await session.readMessages([{ ...KEY, id: '3EB0HIDDEN2' }])
    expect(sock.calls.receiptTypes).toEqual(['read-self', 'read-self'])
    await vi.waitFor(() =>
      expect(h.statuses.at(-1)).toMatchObject({
        status: 'WORKING',
        detail: expect.stringContaining('read receipts are hidden on this account'),
      }),
    )
    expect(hiddenReports).toEqual([[SID, true]])
    expect(lines.filter((l) => l.includes('hides its read receipts'))).toHaveLength(1)

    // Turned on again on the phone (a new socket fetches the settings afresh).
    sock.privacy.readreceipts = 'all'
    await session.readMessages([{ ...KEY, id: '3EB0SHOWN1' }])
    expect(sock.calls.receiptTypes.at(-1)).toBe('read')
    await vi.waitFor(() =>
      expect(h.statuses.at(-1)).toMatchObject({ status: 'WORKING', detail: 'connected' }),
    )
    expect(hiddenReports).toEqual([
      [SID, true],
      [SID, false],
    ])
    await session.close()
  })

  it('an account that shows read receipts changes nothing', async () => {
    const hiddenReports: boolean[] = []
    const h = fakeBaileys({ onReadReceiptsHidden: (_sid, hidden) => hiddenReports.push(hidden) })
    const session = await h.transport.open(SID, async () => {})
    h.sockets.last().open()
    await vi.waitFor(() => expect(session.status()).toBe('WORKING'))
    await session.readMessages([KEY])
    expect(h.statuses.map((s) => s.detail)).not.toContainEqual(expect.stringContaining('hidden'))
    expect(hiddenReports).toEqual([false])
    await session.close()
  })
})
