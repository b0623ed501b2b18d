import type { Chat } from '../inbox/chat.js'
import type { Reminder } from '../reminders/reminder-store.js'
import type { ChatDto } from './schemas.js'

const iso = (ms: number | null): string | null => (ms ? new Date(ms).toISOString() : null)

/** The public shape of a chat: ISO timestamps, no storage internals (waitSeq, raw keys). */
export function chatDto(c: Chat, reminder?: Reminder | null): ChatDto {
  return {
    jid: c.jid,
    altJid: c.altJid,
    name: c.name,
    type: c.type,
    unreadCount: c.unreadCount,
    markedUnread: c.markedUnread,
    unanswered: c.unanswered,
    waitingSince: iso(c.waitingSince),
    lastInboundAt: iso(c.lastInboundAt),
    lastOutboundAt: iso(c.lastOutboundAt),
    lastMessage: c.lastMessage
      ? {
          id: c.lastMessage.id,
          fromMe: c.lastMessage.fromMe,
          preview: c.lastMessage.preview,
          timestamp: new Date(c.lastMessage.timestamp).toISOString(),
        }
      : null,
    owner: c.owner,
    archived: c.archived,
    ...(reminder !== undefined
      ? {
          reminder: reminder
            ? {
                id: reminder.id,
                dueAt: new Date(reminder.dueAt).toISOString(),
                status: reminder.status as 'scheduled' | 'waiting_for_app_state',
              }
            : null,
        }
      : {}),
  }
}

export { iso }
