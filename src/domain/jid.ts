import { isJidGroup, isLidUser, isPnUser, jidDecode, jidNormalizedUser } from '@whiskeysockets/baileys'

export type ChatType = 'dm' | 'group'

/** Jids a chat or a sender can have: a phone-number user, a LID user, or a group. */
export function isChatJid(jid: string): boolean {
  return isUserJid(jid) || isGroupJid(jid)
}

export function isUserJid(jid: string): boolean {
  return Boolean(isPnUser(jid) || isLidUser(jid)) && /^\d{1,24}(:\d{1,4})?@/.test(jid)
}

export function isGroupJid(jid: string): boolean {
  return Boolean(isJidGroup(jid)) && /^[\d-]{1,64}@g\.us$/.test(jid)
}

export function isLid(jid: string): boolean {
  return Boolean(isLidUser(jid))
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
  if (!isPnUser(jid)) return undefined
  return jidDecode(jid)?.user
}
