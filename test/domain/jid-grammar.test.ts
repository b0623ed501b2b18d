import { describe, expect, it } from 'vitest'
import { jidProblem, parseJid } from '../../src/domain/jid.js'

/** The grammar's kinds, one per server of Baileys' WABinary/jid-utils.js. */
describe('parseJid', () => {
  it.each([
    ['4915112345678@s.whatsapp.net', { kind: 'pn', user: '4915112345678', server: 's.whatsapp.net' }],
    ['4915112345678:12@s.whatsapp.net', { kind: 'pn', user: '4915112345678', device: 12 }],
    ['16505361212@c.us', { kind: 'pn-legacy', user: '16505361212' }],
    ['123456789012345@lid', { kind: 'lid', user: '123456789012345' }],
    ['123456789012345:3@lid', { kind: 'lid', device: 3 }],
    ['120363041234567890@g.us', { kind: 'group' }],
    ['4915112345678-1467110520@g.us', { kind: 'group', user: '4915112345678-1467110520' }],
    ['status@broadcast', { kind: 'broadcast', user: 'status' }],
    ['1765000000@broadcast', { kind: 'broadcast' }],
    ['120363144038483540@newsletter', { kind: 'newsletter' }],
    ['123456:7@hosted', { kind: 'hosted', device: 7 }],
    ['123456:7@hosted.lid', { kind: 'hosted-lid', device: 7 }],
    ['13135550002@bot', { kind: 'bot' }],
  ])('%s', (jid, expected) => {
    const parsed = parseJid(jid)
    expect(parsed.ok && parsed.jid).toMatchObject(expected)
  })

  it('refuses what jidEncode never writes: an agent part, a device of 0 written with zeros', () => {
    expect(parseJid('123_1:2@s.whatsapp.net')).toEqual({
      ok: false,
      problem: 'character 4 (U+005F) is not allowed (digits, a-z, ".", ":", "-" and one "@")',
    })
    expect(jidProblem('123:007@lid', 'user')).toBe(
      'the device part after ":" must be a number from 0 to 9999',
    )
  })

  it('names the role a well-formed jid does not play', () => {
    expect(jidProblem('120363041234567890@g.us', 'user')).toBe(
      'an @g.us jid is not a user (…@s.whatsapp.net or …@lid)',
    )
    expect(jidProblem('16505361212@c.us', 'chat')).toBe(
      'an @c.us jid is not a chat (…@s.whatsapp.net, …@lid or …@g.us)',
    )
    expect(jidProblem(42, 'chat')).toBe('not a string')
  })
})
