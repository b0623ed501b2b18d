import { jidNormalizedUser } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import type { z } from 'zod'
import { catalog } from '../../jobs/catalog.js'
import { chatJidSchema, messageKeySchema, userJidSchema } from '../../src/domain/events.js'
import { chatTypeOf, isChatJid, isGroupJid, isUserJid, normalizeJid } from '../../src/domain/jid.js'
import { chatParams } from '../../src/http/schemas.js'
import { normaliseMessage } from '../../src/whatsapp/baileys/normalise.js'
import { sessionCommandSchema } from '../../src/whatsapp/command-bus.js'

/**
 * Hostile jids against every door a jid comes in by: the API's path parameter, a message key from
 * WhatsApp (Baileys' normaliser and the inbox event schema), the session command bus (presence reaches
 * Baileys' sendPresenceUpdate) and a job payload (its jid reaches a job id and Baileys). Each must be
 * refused, with a message saying what is wrong; valid jids of every shape pass and normalise as
 * Baileys' jidNormalizedUser does. Generated from a fixed seed, so every run checks the same jids.
 */

const SEED = 0x5eed_0a1d
const COUNT = 1500

function prng(seed: number) {
  // mulberry32, as test/http/support.ts `prng`
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  return { int, pick }
}
const R = prng(SEED)

const digits = (n: number) =>
  Array.from({ length: n }, (_, i) => (i === 0 ? 1 + R.int(9) : R.int(10))).join('')
const device = () => String(1 + R.int(99))

/** Valid jids, as WhatsApp writes them (Baileys' jidEncode: user[:device]@server). */
const VALID = {
  pn: () => `${digits(8 + R.int(8))}@s.whatsapp.net`,
  pnDevice: () => `${digits(8 + R.int(8))}:${device()}@s.whatsapp.net`,
  lid: () => `${digits(14 + R.int(2))}@lid`,
  lidDevice: () => `${digits(14 + R.int(2))}:${device()}@lid`,
  group: () => `120363${digits(12)}@g.us`,
  oldGroup: () => `${digits(12)}-${digits(10)}@g.us`,
}
type ValidKind = keyof typeof VALID

/** Characters a jid may not hold: controls, key/glob/JSON metacharacters, whitespace, upper case, unicode. */
const HOSTILE_CHARS = [
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)),
  '\x7f',
  '{',
  '}',
  '*',
  '?',
  '[',
  ']',
  '"',
  "'",
  '`',
  '\\',
  '/',
  '%',
  ' ',
  '_',
  '|',
  '$',
  'A',
  'Z',
  'ü',
  'é',
  '\u00a0',
  '\u202e',
  '\u2028',
  '\ufeff',
  '中',
  '😀',
]
const isRawControl = (ch: string) => /\p{Cc}|\p{Zl}|\p{Zp}|\p{Cf}/u.test(ch)
const hex = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`

interface Hostile {
  jid: string
  /** A part of the message the refusal must carry. */
  why: string
}

/** One hostile jid and the reason it must be refused for, each built so the reason is known. */
const HOSTILE: Array<() => Hostile> = [
  // One bad character anywhere in a valid jid: the message names its position and code point.
  () => {
    const base = VALID[R.pick(Object.keys(VALID) as ValidKind[])]()
    const at = R.int(base.length + 1)
    const ch = R.pick(HOSTILE_CHARS)
    return {
      jid: base.slice(0, at) + ch + base.slice(at),
      why: `character ${at + 1} (${hex(ch)}) is not allowed`,
    }
  },
  // The finding's example shape: a valid start and a valid end, anything between.
  () => {
    const ch = R.pick(HOSTILE_CHARS.filter((c) => c !== '\u0000'))
    return { jid: `1@}:*{${ch}"x@s.whatsapp.net`, why: 'character 3 (U+007D) is not allowed' }
  },
  () => {
    const jid = `${digits(3)}@${digits(3)}@s.whatsapp.net`
    return { jid, why: 'more than one "@"' }
  },
  () => ({ jid: `${digits(70 + R.int(300))}@lid`, why: 'longer than 64 characters' }),
  () => ({ jid: `${digits(25 + R.int(20))}@s.whatsapp.net`, why: 'the user part must be 1 to 24 digits' }),
  () => ({ jid: R.pick(['@s.whatsapp.net', '@lid', '@g.us', ':1@lid']), why: 'empty user part' }),
  () => ({ jid: `${digits(11)}@`, why: 'empty server' }),
  () => ({ jid: digits(1 + R.int(20)), why: 'no "@"' }),
  () => ({ jid: '', why: 'empty' }),
  () => {
    const server = R.pick(['s.whatsapp.net.evil', 'whatsapp.net', 'g.us.', 'lid.', '.lid', 'x', 'net'])
    return { jid: `${digits(11)}@${server}`, why: `unknown server "${server}"` }
  },
  () => ({
    jid: `${digits(11)}:${R.pick(['', '01', '12345', '-1', '1:2', 'a', '1.5'])}@s.whatsapp.net`,
    why: 'the device part after ":" must be a number',
  }),
  () => ({
    jid: `120363${digits(12)}:${device()}@g.us`,
    why: 'a device part (":N") is not allowed on @g.us',
  }),
  () => ({
    jid: `${digits(5)}--${digits(5)}@g.us`,
    why: 'the user part must be digits, or digits-digits on @g.us',
  }),
  () => ({ jid: R.pick(['status@broadcast', `${digits(10)}@broadcast`]), why: 'an @broadcast jid is not a' }),
  () => ({ jid: `${digits(18)}@newsletter`, why: 'an @newsletter jid is not a' }),
]

const hostile: Hostile[] = Array.from({ length: COUNT }, () => R.pick(HOSTILE)())

/** Every issue's message of a failed parse, or [] when it passed. */
function refusal(schema: z.ZodType, value: unknown): string[] {
  const r = schema.safeParse(value)
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

const key = (remoteJid: string) => ({ remoteJid, fromMe: false, id: '3EB0AAAA' })

describe('the jid grammar refuses hostile jids at every door, saying why', () => {
  it(`${COUNT} generated hostile jids (seed ${SEED.toString(16)}) are refused everywhere`, () => {
    expect(new Set(hostile.map((h) => h.why.split(' ')[0])).size).toBeGreaterThan(8) // every family drawn
    for (const { jid, why } of hostile) {
      const ctx = `jid ${JSON.stringify(jid)}`
      expect(isChatJid(jid), ctx).toBe(false)
      expect(isUserJid(jid), ctx).toBe(false)
      expect(isGroupJid(jid), ctx).toBe(false)

      const messages = [
        ...refusal(chatJidSchema, jid),
        ...refusal(messageKeySchema, key(jid)),
        ...refusal(chatParams, { sid: 'acme-sales', jid }),
        ...refusal(sessionCommandSchema, { cmd: 'presence', jid, state: 'composing' }),
        ...refusal(catalog.sessionAction.payload, { action: 'presence', jid, state: 'paused' }),
        ...refusal(catalog.seenReceipt.payload, { chatJid: jid, gen: 1 }),
      ]
      expect(messages, ctx).toHaveLength(6)
      for (const m of messages) {
        expect(m, ctx).toMatch(
          /^(|remoteJid|jid|chatJid): expected a chat jid \(…@s\.whatsapp\.net, …@lid or …@g\.us\): /,
        )
        expect(m, ctx).toContain(why)
        // The refusal never carries the raw input: no control character or line break reaches a log.
        expect([...m].filter(isRawControl), ctx).toEqual([])
      }
      expect(refusal(userJidSchema, jid)[0], ctx).toMatch(
        /^: expected a user jid \(…@s\.whatsapp\.net or …@lid\): /,
      )

      // From WhatsApp: Baileys' event never becomes an inbox event.
      const fromWa = normaliseMessage(
        { sessionId: 'acme-sales', now: 1_765_000_000_000 },
        { key: key(jid), message: { conversation: 'hi' }, messageTimestamp: 1_765_000_000 },
        'notify',
      )
      expect(fromWa.ok, ctx).toBe(false)
    }
  })

  it("the finding's own example is refused", () => {
    expect(refusal(chatJidSchema, '1@}:*{\n"x@s.whatsapp.net')).toEqual([
      ': expected a chat jid (…@s.whatsapp.net, …@lid or …@g.us): character 3 (U+007D) is not allowed (digits, a-z, ".", ":", "-" and one "@")',
    ])
  })

  it('valid jids of every shape pass every door and normalise as Baileys does', () => {
    for (let i = 0; i < 300; i++) {
      const kind = R.pick(Object.keys(VALID) as ValidKind[])
      const jid = VALID[kind]()
      const ctx = `${kind} ${jid}`
      const group = kind === 'group' || kind === 'oldGroup'
      expect(isChatJid(jid), ctx).toBe(true)
      expect(isUserJid(jid), ctx).toBe(!group)
      expect(isGroupJid(jid), ctx).toBe(group)
      expect(chatTypeOf(jid), ctx).toBe(group ? 'group' : 'dm')
      expect(refusal(chatJidSchema, jid), ctx).toEqual([])
      expect(refusal(messageKeySchema, key(jid)), ctx).toEqual([])
      expect(refusal(sessionCommandSchema, { cmd: 'presence', jid, state: 'composing' }), ctx).toEqual([])
      expect(refusal(catalog.seenReceipt.payload, { chatJid: jid, gen: 1 }), ctx).toEqual([])
      // Normalised as before: the device part stripped, exactly as Baileys' own jidNormalizedUser.
      const [user, server] = jid.split('@') as [string, string]
      expect(normalizeJid(jid), ctx).toBe(`${user.split(':')[0]}@${server}`)
      expect(normalizeJid(jid), ctx).toBe(jidNormalizedUser(jid))
    }
  })
})
