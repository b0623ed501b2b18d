import { DelayedError } from 'bullmq'
import type { Logger } from 'pino'
import type { Clock } from '../src/clock.js'
import type { InboxStore } from '../src/inbox/store.js'
import type { Metrics } from '../src/metrics.js'
import { ReminderStore } from '../src/reminders/reminder-store.js'
import type { Rules } from '../src/rules/compile.js'
import { AppStateKeyMissingError, type ChatRef } from '../src/whatsapp/port.js'
import type { catalog, Processor } from './catalog.js'

/**
 * `unread-reminder`: at its due time, puts the reminder dot on the chat: unarchive (snooze), mark read
 * (clear the real unread count first), then mark unread; our stored state follows. A delayed job with
 * the reminder's id in the session's queue; it acts only while the reminder is still pending.
 */
/** Retry delays while the phone has not shared its app-state key: 2 s doubling, at most 10 min. */
const appStateBackoff = (attempt: number) => Math.min(2000 * 2 ** attempt, 600_000)

export function unreadReminderProcessor(deps: {
  reminders: ReminderStore
  inbox: InboxStore
  rules: () => Rules
  clock: Clock
  metrics: Metrics
  log: Logger
}): Processor<typeof catalog.unreadReminder> {
  return async ({ reminderId: rid, chatJid }, job, { sessionId: sid, session, token }) => {
    const r = await deps.reminders.get(sid, rid)
    if (!r || !ReminderStore.isLive(r.status)) return { fired: false, status: r?.status ?? 'unknown' }
    const now = () => deps.clock.now()
    const fail = async (detail: string) => {
      await deps.reminders.transition(sid, chatJid, rid, 'failed', now(), detail)
      deps.metrics.reminders.inc({ outcome: 'failed' })
      deps.log.error({ sessionId: sid, chat: chatJid, reminderId: rid, detail }, 'reminder failed')
      return { fired: false, status: 'failed' }
    }
    const chat = await deps.inbox.getChat(sid, chatJid)
    if (!chat?.lastMessage) return fail('the chat has no stored last message')
    // WhatsApp wants the chat as it knows it: the jid and key exactly as received.
    const ref: ChatRef = {
      jid: chat.lastMessage.key.remoteJid,
      lastMessage: { key: chat.lastMessage.key, timestamp: chat.lastMessage.timestamp },
    }
    try {
      if (r.snooze) await session.setArchived(ref, false, { idempotencyKey: `${rid}/unarchive` })
      if (r.clearFirst) await session.markChatRead(ref, { idempotencyKey: `${rid}/read` })
      await session.markChatUnread(ref, { idempotencyKey: `${rid}/unread` })
    } catch (err) {
      if (!(err instanceof AppStateKeyMissingError)) throw err
      const horizon = deps.rules().config.reminders.defaults.appStateRetryHorizon
      if (now() - r.dueAt > horizon) {
        return fail(
          `WhatsApp kept refusing for ${Math.round(horizon / 60_000)} min: the phone never shared its app-state key`,
        )
      }
      await deps.reminders.transition(sid, chatJid, rid, 'waiting_for_app_state', now(), err.message)
      deps.metrics.reminderAppStateWaits.inc()
      const wait = appStateBackoff(r.attempts)
      deps.log.warn(
        { sessionId: sid, chat: chatJid, reminderId: rid, retryInMs: wait },
        'reminder waits for the app-state key',
      )
      await job.moveToDelayed(Date.now() + wait, token)
      throw new DelayedError()
    }
    const prev = await deps.reminders.transition(sid, chatJid, rid, 'done', now())
    if (prev === null || !ReminderStore.isLive(prev)) return { fired: true, status: prev }
    deps.metrics.reminders.inc({ outcome: 'done' })
    deps.log.info(
      { sessionId: sid, chat: chatJid, reminderId: rid, lateMs: now() - r.dueAt, snooze: r.snooze },
      'reminder fired',
    )
    // Our stored state already follows: each call above resolved once the transport had reported the
    // accepted change to the inbox (whatsapp/own-actions.ts). Reporting it again here would clear the
    // dot a second time after the reminder was seen done, so a caller reading the chat could find none.
    return { fired: true, status: 'done' }
  }
}
