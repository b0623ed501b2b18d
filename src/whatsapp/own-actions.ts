import type { InboxEventInput, MessageKey } from '../domain/events.js'
import type { ChatRef } from './port.js'

/**
 * What our own actions do to the inbox once WhatsApp accepted them. WhatsApp shows the result on every
 * linked device but Baileys emits nothing for it (`readMessages` never; `chatModify` not with
 * `emitOwnEvents: false`, which we set so our own changes are never taken for a person reading on the
 * phone). So each transport reports them itself, as `self` events that never cancel pending receipts.
 */
export type OwnAction =
  | { kind: 'read'; keys: MessageKey[] }
  | { kind: 'markRead' | 'markUnread' | 'archive' | 'unarchive'; chat: ChatRef }

export function ownActionEvents(sessionId: string, action: OwnAction, now: number): InboxEventInput[] {
  switch (action.kind) {
    case 'read': {
      // One receipt per chat: the chat is read up to the newest message we receipted in it.
      const byChat = new Map<string, string[]>()
      for (const k of action.keys) {
        if (k.fromMe) continue
        byChat.set(k.remoteJid, [...(byChat.get(k.remoteJid) ?? []), k.id])
      }
      return [...byChat].map(([chatJid, ids]) => ({
        type: 'chat.read',
        sessionId,
        chatJid,
        at: now,
        source: 'self',
        upToIds: ids.slice(0, 1000),
      }))
    }
    case 'markRead':
      // chatModify markRead covers the chat up to the last message we named.
      return [
        {
          type: 'chat.read',
          sessionId,
          chatJid: action.chat.jid,
          at: Math.min(now, action.chat.lastMessage.timestamp),
          source: 'self',
        },
      ]
    case 'markUnread':
      return [{ type: 'chat.markedUnread', sessionId, chatJid: action.chat.jid, at: now }]
    case 'archive':
    case 'unarchive':
      return [{ type: 'chat.meta', sessionId, chatJid: action.chat.jid, archived: action.kind === 'archive' }]
  }
}
