import { jidNormalizedUser } from '@whiskeysockets/baileys'

/**
 * The one grammar of WhatsApp jids, checked over the WHOLE string: every jid that reaches a Redis key, a
 * BullMQ job id or Baileys passes through it (domain/events.ts schemas, normalise.ts, the command bus).
 *
 *   jid    = user [ ":" device ] "@" server
 *   user   = 1*24 DIGIT                        ; "status" only on broadcast
 *   device = "0" / NZDIGIT 0*3 DIGIT           ; only on user servers (s.whatsapp.net, lid, hosted*)
 *   group  = 1*24 DIGIT [ "-" 1*20 DIGIT ]     ; "<creator>-<unix time>" groups from before 2022
 *
 * Derived from Baileys 7.0.0-rc14 `WABinary/jid-utils.js`: `jidEncode` writes `user[_agent][:device]@server`
 * and `jidDecode` splits on the first "@", ":" and "_" WITHOUT checking what lies between (hence a jid
 * checked at its start or end only lets `1@}:*{\n"x@s.whatsapp.net` through). The servers are those
 * jid-utils names (`S_WHATSAPP_NET`, `c.us`, `g.us`, `lid`, `broadcast`, `newsletter`, `hosted`,
 * `hosted.lid`, `bot`). `WABinary/decode.js` `readAdJid` builds device jids as
 * `jidEncode(user, server, device)` with the device a byte and no agent, so `_agent` never reaches us and
 * is refused; `jidEncode` omits a device of 0, so no leading zeros.
 */

export type ChatType = 'dm' | 'group'

export type JidKind =
  | 'pn' // a phone-number user (s.whatsapp.net)
  | 'pn-legacy' // the same on the old c.us server (Baileys' jidNormalizedUser maps it to s.whatsapp.net)
  | 'lid' // a LID user
  | 'group'
  | 'broadcast' // status@broadcast or a broadcast list
  | 'newsletter'
  | 'hosted'
  | 'hosted-lid'
  | 'bot'

export interface Jid {
  readonly kind: JidKind
  readonly user: string
  readonly device?: number
  readonly server: string
}

/** Longer than any jid WhatsApp makes (24 + 5 + 1 + 14); bounds the Redis keys built from jids. */
export const MAX_JID_LENGTH = 64

const DIGITS = /^\d{1,24}$/
const DEVICE = /^(0|[1-9]\d{0,3})$/
const GROUP_USER = /^\d{1,24}(-\d{1,20})?$/
/** Everything a jid of the grammar can hold; anything else is named by its code point. */
const ALLOWED = /^[0-9a-z.:@-]$/

const SERVERS: Record<string, { kind: JidKind; device: boolean; user: RegExp; userText: string }> = {
  's.whatsapp.net': { kind: 'pn', device: true, user: DIGITS, userText: '1 to 24 digits' },
  'c.us': { kind: 'pn-legacy', device: false, user: DIGITS, userText: '1 to 24 digits' },
  lid: { kind: 'lid', device: true, user: DIGITS, userText: '1 to 24 digits' },
  'g.us': { kind: 'group', device: false, user: GROUP_USER, userText: 'digits, or digits-digits' },
  broadcast: {
    kind: 'broadcast',
    device: false,
    user: /^(status|\d{1,24})$/,
    userText: '"status" or digits',
  },
  newsletter: { kind: 'newsletter', device: false, user: DIGITS, userText: '1 to 24 digits' },
  hosted: { kind: 'hosted', device: true, user: DIGITS, userText: '1 to 24 digits' },
  'hosted.lid': { kind: 'hosted-lid', device: true, user: DIGITS, userText: '1 to 24 digits' },
  bot: { kind: 'bot', device: false, user: DIGITS, userText: '1 to 24 digits' },
}

const codePoint = (ch: string) => `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`

/**
 * Parses a jid against the full grammar; on refusal, says why in words that never echo the raw input
 * (a control character or a newline would otherwise reach a log line): position and code point instead.
 */
export function parseJid(input: unknown): { ok: true; jid: Jid } | { ok: false; problem: string } {
  const fail = (problem: string) => ({ ok: false as const, problem })
  if (typeof input !== 'string') return fail('not a string')
  if (input.length === 0) return fail('empty')
  if (input.length > MAX_JID_LENGTH) return fail(`longer than ${MAX_JID_LENGTH} characters (${input.length})`)
  let position = 0
  for (const ch of input) {
    position += 1
    if (!ALLOWED.test(ch)) {
      return fail(
        `character ${position} (${codePoint(ch)}) is not allowed (digits, a-z, ".", ":", "-" and one "@")`,
      )
    }
  }
  const at = input.indexOf('@')
  if (at < 0) return fail('no "@"')
  if (input.indexOf('@', at + 1) >= 0) return fail('more than one "@"')
  const server = input.slice(at + 1)
  const spec = SERVERS[server]
  if (!server) return fail('empty server after "@"')
  if (!spec) return fail(`unknown server "${server}"`)
  const local = input.slice(0, at)
  if (!local) return fail('empty user part before "@"')
  const colon = local.indexOf(':')
  const user = colon < 0 ? local : local.slice(0, colon)
  const device = colon < 0 ? undefined : local.slice(colon + 1)
  if (!user) return fail('empty user part before "@"')
  if (!spec.user.test(user)) return fail(`the user part must be ${spec.userText} on @${server}`)
  if (device !== undefined) {
    if (!spec.device) return fail(`a device part (":N") is not allowed on @${server}`)
    if (!DEVICE.test(device)) return fail('the device part after ":" must be a number from 0 to 9999')
  }
  return {
    ok: true,
    jid: { kind: spec.kind, user, server, ...(device !== undefined ? { device: Number(device) } : {}) },
  }
}

const kindOf = (jid: string): JidKind | undefined => {
  const parsed = parseJid(jid)
  return parsed.ok ? parsed.jid.kind : undefined
}

/** The roles a jid plays in Tickbridge, each a subset of the grammar. */
export type JidRole = 'chat' | 'user' | 'group'

const ROLE_KINDS: Record<JidRole, ReadonlySet<JidKind>> = {
  chat: new Set(['pn', 'lid', 'group']),
  user: new Set(['pn', 'lid']),
  group: new Set(['group']),
}

const ROLE_TEXT: Record<JidRole, string> = {
  chat: 'a chat (…@s.whatsapp.net, …@lid or …@g.us)',
  user: 'a user (…@s.whatsapp.net or …@lid)',
  group: 'a group (…@g.us)',
}

/** Why `jid` is not a jid of this role (undefined when it is one). */
export function jidProblem(jid: unknown, role: JidRole): string | undefined {
  const parsed = parseJid(jid)
  if (!parsed.ok) return parsed.problem
  if (!ROLE_KINDS[role].has(parsed.jid.kind)) return `an @${parsed.jid.server} jid is not ${ROLE_TEXT[role]}`
  return undefined
}

/** Jids a chat or a sender can have: a phone-number user, a LID user, or a group. */
export function isChatJid(jid: string): boolean {
  return jidProblem(jid, 'chat') === undefined
}

export function isUserJid(jid: string): boolean {
  return jidProblem(jid, 'user') === undefined
}

export function isGroupJid(jid: string): boolean {
  return jidProblem(jid, 'group') === undefined
}

export function isLid(jid: string): boolean {
  return kindOf(jid) === 'lid'
}

export function chatTypeOf(jid: string): ChatType {
  return isGroupJid(jid) ? 'group' : 'dm'
}

/** Strips the device part (`123:4@s.whatsapp.net` -> `123@s.whatsapp.net`), as Baileys does. */
export function normalizeJid(jid: string): string {
  return jidNormalizedUser(jid)
}

/** The phone number (digits) of a phone-number jid, or undefined for LIDs and groups. */
export function phoneOf(jid: string): string | undefined {
  const parsed = parseJid(jid)
  return parsed.ok && parsed.jid.kind === 'pn' ? parsed.jid.user : undefined
}
