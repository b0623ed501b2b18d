import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { useRedisAuthState } from '../../src/whatsapp/baileys/auth-state.js'
import { BaileysTransport } from '../../src/whatsapp/baileys/transport.js'
import { fakeSocketFactory } from '../helpers/fake-wa-socket.js'
import { testRedis } from '../helpers/redis.js'

const r = testRedis('baileys-resume')
afterAll(() => r.cleanup())

function transportOn(redis: typeof r.redis) {
  const sockets = fakeSocketFactory()
  const transport = new BaileysTransport({
    socketFactory: sockets.factory,
    authState: (sid) => useRedisAuthState(redis, r.keys, sid),
    log: pino({ level: 'silent' }),
    onStatus: async () => {},
    waVersion: async () => undefined,
  })
  return { transport, sockets }
}

describe('a paired session survives a process restart', () => {
  it('reopens with the creds saved on creds.update: no QR, no pairing', async () => {
    const first = transportOn(r.redis)
    const session = await first.transport.open('resume-1', async () => {})
    const sock = first.sockets.last()
    // Pairing completes: Baileys fills in the account and asks for the creds to be saved.
    const me = { id: '4915112345678:12@s.whatsapp.net', lid: '123456789012345:12@lid', name: 'Sales' }
    Object.assign(sock.authState.creds, { me, registered: true })
    sock.ev.emit('creds.update', { me, registered: true })
    sock.open()
    await expect.poll(() => session.status()).toBe('WORKING')
    await session.close()

    // A new process: a new Redis connection, a new transport, nothing in memory.
    const redis2 = r.redis.duplicate()
    try {
      const second = transportOn(redis2)
      const resumed = await second.transport.open('resume-1', async () => {})
      const creds = second.sockets.last().config.auth.creds
      expect(creds.me).toEqual(me)
      expect(creds.registered).toBe(true)
      expect(Buffer.from(creds.noiseKey.private)).toEqual(Buffer.from(sock.authState.creds.noiseKey.private))
      second.sockets.last().open()
      await expect.poll(() => resumed.status()).toBe('WORKING')
      await resumed.close()
    } finally {
      redis2.disconnect()
    }
  })
})
