import { afterAll, describe, expect, it } from 'vitest'
import { PREVIEW_MAX_BYTES, previewOf } from '../../src/inbox/chat.js'
import { group, inbound, lid, pn, T0 } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'

/**
 * Issue 18: a chat's state is one Redis hash. Redis keeps a small hash as a listpack only while every
 * value fits `hash-max-listpack-value` (64 bytes by default); one longer value (the last message key as
 * JSON, a long preview) turns the whole hash into a hash table, about three times the memory.
 */
const f = inboxFixture('chat-memory')
afterAll(() => f.cleanup())

const LONG_TEXT =
  'Hallo! Ich habe gestern die Bestellung 4711 aufgegeben und warte noch auf die Versandbestätigung. 😊 Können Sie nachsehen?'

describe('chat state in compact form', () => {
  it('a group chat whose last message is long and sent by a LID participant stays a listpack', async () => {
    const chat = group(77)
    const sender = lid(98765432109876)
    await f.ingestor.ingest(
      inbound('s1', chat, { ts: T0, text: LONG_TEXT, participant: sender, pushName: 'Jo' }),
    )
    const key = f.keys.chat('s1', chat)
    expect(await f.redis.object('ENCODING', key)).toBe('listpack')
    for (const [field, value] of Object.entries(await f.redis.hgetall(key)))
      expect(Buffer.byteLength(value), field).toBeLessThanOrEqual(64) // hash-max-listpack-value
    // What the overview and chatModify need is all still there.
    const c = await f.store.getChat('s1', chat)
    expect(c?.lastMessage?.key).toEqual({
      remoteJid: chat,
      fromMe: false,
      id: c?.lastMessage?.id,
      participant: sender,
    })
    expect(c?.lastMessage?.preview.startsWith('Hallo! Ich habe gestern die Bestellung 4711')).toBe(true)
  })

  it('keeps the jid as received in the key (a phone-number reply to a LID chat)', async () => {
    const chatLid = lid(11122233344455)
    const phone = pn(4915111122233)
    await f.ingestor.ingest(inbound('s1', chatLid, { ts: T0, alt: phone }))
    await f.ingestor.ingest({ ...inbound('s1', phone, { ts: T0 + 1000 }) })
    const c = await f.store.getChat('s1', chatLid)
    expect(c?.lastMessage?.key.remoteJid).toBe(phone)
    expect(c?.lastMessage?.key.participant).toBeUndefined()
  })

  it('reads a chat written before the key was stored in parts (lmKey as JSON)', async () => {
    const chat = pn(4915199988877)
    await f.ingestor.ingest(inbound('s1', chat, { ts: T0, id: 'OLD1' }))
    const key = f.keys.chat('s1', chat)
    await f.redis.hdel(key, 'lmJid', 'lmPart')
    await f.redis.hset(key, 'lmKey', JSON.stringify({ remoteJid: chat, fromMe: false, id: 'OLD1' }))
    expect((await f.store.getChat('s1', chat))?.lastMessage?.key).toEqual({
      remoteJid: chat,
      fromMe: false,
      id: 'OLD1',
    })
    // The next message is stored in parts, which win over the old JSON.
    await f.ingestor.ingest(inbound('s1', chat, { ts: T0 + 1, id: 'NEW1' }))
    expect((await f.store.getChat('s1', chat))?.lastMessage?.key).toEqual({
      remoteJid: chat,
      fromMe: false,
      id: 'NEW1',
    })
  })
})

describe('previewOf', () => {
  it('keeps a short text whole and cuts a long one at a whole character, with an ellipsis', () => {
    expect(previewOf('  Hi\n there ', undefined)).toBe('Hi there')
    expect(previewOf('', 'image')).toBe('[image]')
    expect(previewOf('look', 'image')).toBe('[image] look')
    for (const text of [LONG_TEXT, '😊'.repeat(40), 'я'.repeat(100), 'x'.repeat(65)]) {
      const p = previewOf(text, 'video')
      expect(Buffer.byteLength(p)).toBeLessThanOrEqual(PREVIEW_MAX_BYTES)
      expect(p.endsWith('…')).toBe(true)
      expect(p).not.toMatch(/\uFFFD|[\uD800-\uDBFF]…$/) // no half of a surrogate pair
      expect(`[video] ${text}`.startsWith(p.slice(0, -1))).toBe(true)
    }
    expect(previewOf('x'.repeat(64), undefined)).toBe('x'.repeat(64))
  })
})
