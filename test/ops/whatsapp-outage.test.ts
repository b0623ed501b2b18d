import { DisconnectReason } from '@whiskeysockets/baileys'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createLogger } from '../../src/log.js'
import { fakeBaileys } from '../helpers/fake-wa-socket.js'

/**
 * WhatsApp unreachable (no DNS, a TLS failure, 408 timeouts): the transport reconnects with backoff, and
 * the log tells the real cause once, counts the repeats, and says once when it is connected again.
 */

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})
const settle = () => vi.advanceTimersByTimeAsync(0)

/**
 * What Baileys' socket ends with when the WebSocket cannot connect: `mapWebSocketError` in
 * Baileys' Socket/socket.js wraps the ws error in a Boom with a status code and the error as `data`.
 */
function unreachable(): Error {
  const dns = Object.assign(new Error('getaddrinfo ENOTFOUND web.whatsapp.com'), {
    code: 'ENOTFOUND',
    syscall: 'getaddrinfo',
  })
  return Object.assign(new Error('getaddrinfo ENOTFOUND web.whatsapp.com'), {
    isBoom: true,
    data: dns,
    output: { statusCode: DisconnectReason.timedOut, payload: { statusCode: DisconnectReason.timedOut } },
  })
}

describe('WhatsApp unreachable, in the log', () => {
  it('the cause once, then counted repeats, then one line when connected again', async () => {
    const lines: Array<{ msg: string; [k: string]: unknown }> = []
    const log = createLogger({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
    // rand 0: full-jitter backoff of 0 ms, so every reconnect happens at once.
    const h = fakeBaileys({ log, rand: () => 0 })
    const session = await h.transport.open('wa-1', async () => {})
    h.sockets.last().open()
    await settle()
    for (let i = 0; i < 12; i++) {
      await h.sockets.last().end(unreachable())
      await settle()
    }
    expect(h.sockets.sockets.length).toBe(13) // it kept trying
    await vi.advanceTimersByTimeAsync(61_000) // one summary period
    h.sockets.last().open()
    await settle()
    await session.close()

    const down = lines.filter((l) => l.msg.startsWith('whatsapp is down'))
    expect(down).toHaveLength(1)
    expect(down[0]).toMatchObject({ sessionId: 'wa-1', dependency: 'whatsapp' })
    expect(String(down[0]!.cause)).toBe(
      '408: getaddrinfo ENOTFOUND web.whatsapp.com: ENOTFOUND (getaddrinfo)',
    )
    expect(lines.filter((l) => l.msg.startsWith('whatsapp still down'))).toHaveLength(1)
    const back = lines.filter((l) => l.msg.startsWith('whatsapp is back'))
    expect(back).toHaveLength(1)
    expect(back[0]).toMatchObject({ errors: 12 })
    expect(lines.filter((l) => l.msg === 'WhatsApp connection closed; reconnecting')).toEqual([])
  })
})
