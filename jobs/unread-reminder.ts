import { DelayedError } from 'bullmq'
import type { Logger } from 'pino'
import type { Clock } from '../src/clock.js'
import type { Ingestor } from '../src/inbox/ingest.js'
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
  ingestor: Ingestor
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
    // Our stored state follows what we just did on WhatsApp (a local read: pending receipts stay).
    const at = now()
    if (r.snooze)
      await deps.ingestor.ingest({ type: 'chat.meta', sessionId: sid, chatJid: chat.jid, archived: false })
    if (r.clearFirst)
      await deps.ingestor.ingest({ type: 'chat.read', sessionId: sid, chatJid: chat.jid, at, source: 'api' })
    await deps.ingestor.ingest({ type: 'chat.markedUnread', sessionId: sid, chatJid: chat.jid, at })
    return { fired: true, status: 'done' }
  }
}
