import { afterAll, describe, expect, it, vi } from 'vitest'
import type { MessageKey } from '../../src/domain/events.js'
import { compileRules } from '../../src/rules/compile.js'
import { rulesSchema } from '../../src/rules/schema.js'
import type { ChatRef } from '../../src/whatsapp/port.js'
import { RedisTokenStore, sendBucketKey } from '../../src/whatsapp/send-budget.js'
import { T0 } from '../helpers/events.js'
import { fakeBaileys } from '../helpers/fake-wa-socket.js'
import { testRedis } from '../helpers/redis.js'

/** Ban safety: the per-session send budget counts stanzas and lives in Redis (issue 14, section 3). */
const r = testRedis('send-budget')
afterAll(() => r.cleanup())

const GROUP = '120363000000000042@g.us'
const DM = '4915112345678@s.whatsapp.net'
const chat: ChatRef = {
  jid: DM,
  lastMessage: { key: { remoteJid: DM, fromMe: false, id: 'L1' }, timestamp: T0 },
}

async function working(overrides: Parameters<typeof fakeBaileys>[0]) {
  const h = fakeBaileys(overrides)
  const session = await h.transport.open('budget', async () => {})
  h.sockets.last().open()
  await vi.waitFor(() => expect(session.status()).toBe('WORKING'))
  return { ...h, session, sock: h.sockets.last() }
}

describe('send budget', () => {
  it('counts one readMessages for N senders as N receipts', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const { session, sock } = await working({ sendRate: () => ({ max: 4, per: 60_000 }) })
      const keys: MessageKey[] = [
        { remoteJid: GROUP, fromMe: false, id: 'G1', participant: '111111111111111@lid' },
        { remoteJid: GROUP, fromMe: false, id: 'G2', participant: '111111111111111@lid' },
        { remoteJid: GROUP, fromMe: false, id: 'G3', participant: '222222222222222@lid' },
        { remoteJid: GROUP, fromMe: false, id: 'G4', participant: '333333333333333@lid' },
        { remoteJid: DM, fromMe: false, id: 'D1' },
        { remoteJid: DM, fromMe: true, id: 'OWN' },
      ]
      // Baileys sends one receipt per chat+participant: 4 stanzas, the whole budget.
      await session.readMessages(keys)
      let modified = false
      const next = session.markChatRead(chat).then(() => {
        modified = true
      })
      await vi.advanceTimersByTimeAsync(14_000)
      expect(modified).toBe(false)
      expect(sock.calls.chatModify).toHaveLength(0)
      await vi.advanceTimersByTimeAsync(1_100)
      await next
      expect(sock.calls.chatModify).toHaveLength(1)
      await session.close()
    } finally {
      vi.useRealTimers()
    }
  })

  it('is kept in Redis: the next process goes on with what was left, no fresh burst', async () => {
    const rate = { max: 3, per: 3_000 }
    const sendTokens = () => new RedisTokenStore(r.redis, sendBucketKey(r.keys, 'budget'))
    const first = await working({ sendRate: () => rate, sendTokens })
    for (let i = 0; i < 3; i++) await first.session.markChatRead(chat)
    await first.session.close()
    // A restart (or the next holder after a failover) with the same Redis.
    const second = await working({ sendRate: () => rate, sendTokens })
    const started = Date.now()
    await second.session.markChatRead(chat)
    expect(Date.now() - started).toBeGreaterThanOrEqual(700)
    await second.session.close()
  })

  it('defaults to 25 stanzas a minute when the rules name no rate', () => {
    const rules = compileRules(
      rulesSchema.parse({ version: 1, orgs: [{ id: 'o' }], sessions: [{ id: 's', org: 'o' }] }),
    )
    expect(rules.config.whatsapp.sendRate).toEqual({ max: 25, per: 60_000 })
  })
})
