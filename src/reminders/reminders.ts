import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { catalog, type JobProducer } from '../../jobs/catalog.js'
import type { Clock } from '../clock.js'
import type { InboxEvent } from '../domain/events.js'
import type { ChatTransition } from '../inbox/chat.js'
import type { InboxStore } from '../inbox/store.js'
import type { Metrics } from '../metrics.js'
import type { Rules } from '../rules/compile.js'
import { type CancelTrigger, type Reminder, ReminderStore } from './reminder-store.js'

export class ChatNotFoundError extends Error {}
/** A reminder needs the chat's last message (WhatsApp's app-state wants its key and timestamp). */
export class NoLastMessageError extends Error {}

export interface ReminderRequest {
  dueAt: number
  clearFirst?: boolean
  snooze?: boolean
  note?: string
  cancelOn?: CancelTrigger[]
}

/**
 * "Look at this again": flags a chat unread on WhatsApp now or later, optionally clearing the real
 * unread count first and archiving it meanwhile (snooze). One pending reminder per chat; a new one
 * replaces it; the conversation moving on (customer writes, someone replies) cancels it as configured.
 */
export class ReminderService {
  constructor(
    private readonly deps: {
      store: ReminderStore
      inbox: InboxStore
      jobs: JobProducer
      rules: () => Rules
      clock: Clock
      log: Logger
      metrics: Metrics
    },
  ) {}

  async create(sid: string, chatJid: string, req: ReminderRequest): Promise<Reminder> {
    const { store, inbox, jobs, clock, rules } = this.deps
    const chat = await inbox.getChat(sid, chatJid)
    if (!chat) throw new ChatNotFoundError(`chat ${chatJid} not found`)
    if (!chat.lastMessage) {
      throw new NoLastMessageError(
        `chat ${chat.jid} has no stored last message yet: WhatsApp needs one to mark a chat unread`,
      )
    }
    const defaults = rules().config.reminders.defaults
    const now = clock.now()
    const reminder: Reminder = {
      id: `r${randomBytes(8).toString('hex')}`,
      sessionId: sid,
      chatJid: chat.jid,
      dueAt: Math.max(req.dueAt, now),
      status: 'scheduled',
      clearFirst: req.clearFirst ?? defaults.clearFirst,
      snooze: req.snooze ?? false,
      note: req.note ?? null,
      cancelOn: req.cancelOn ?? [...defaults.cancelOn],
      createdAt: now,
      updatedAt: now,
      attempts: 0,
      detail: null,
    }
    const replaced = await store.create(reminder)
    if (replaced) {
      await jobs.remove(catalog.unreadReminder, { reminderId: replaced }, { sessionId: sid })
      this.deps.metrics.reminders.inc({ outcome: 'replaced' })
    }
    if (reminder.snooze) {
      const ref = {
        jid: chat.lastMessage.key.remoteJid,
        lastMessage: { key: chat.lastMessage.key, timestamp: chat.lastMessage.timestamp },
      }
      await jobs.add(
        catalog.sessionAction,
        { action: 'archive', chat: ref },
        { sessionId: sid, key: { snoozeOf: reminder.id }, removeOnComplete: true },
      )
    }
    await jobs.add(
      catalog.unreadReminder,
      { reminderId: reminder.id, chatJid: chat.jid },
      { sessionId: sid, key: { reminderId: reminder.id }, delay: reminder.dueAt - now },
    )
    this.deps.log.info(
      {
        sessionId: sid,
        chat: chat.jid,
        reminderId: reminder.id,
        dueAt: new Date(reminder.dueAt).toISOString(),
        replaced,
      },
      'reminder scheduled',
    )
    return reminder
  }

  /** Cancels a pending reminder; false when it is unknown to this chat or no longer pending. */
  async cancel(sid: string, chatJid: string, rid: string, why: string): Promise<boolean> {
    const r = await this.deps.store.get(sid, rid)
    if (!r || r.chatJid !== chatJid) return false
    const prev = await this.deps.store.transition(
      sid,
      r.chatJid,
      rid,
      'cancelled',
      this.deps.clock.now(),
      why,
    )
    if (prev === null || !ReminderStore.isLive(prev)) return false
    await this.deps.jobs.remove(catalog.unreadReminder, { reminderId: rid }, { sessionId: sid })
    this.deps.metrics.reminders.inc({ outcome: 'cancelled' })
    this.deps.log.info({ sessionId: sid, chat: r.chatJid, reminderId: rid, why }, 'reminder cancelled')
    return true
  }

  /** Inbox listener: the conversation moved on, so a reminder set to cancel on that goes away. */
  readonly onApplied = async (event: InboxEvent, t: ChatTransition | null): Promise<void> => {
    // A duplicate still counts: it may be the redelivery of a message whose first delivery crashed.
    if (!t || event.type !== 'message') return
    const trigger: CancelTrigger = event.key.fromMe ? 'outbound' : 'inbound'
    const pending = await this.deps.store.pendingOf(event.sessionId, t.jid)
    if (!pending?.cancelOn.includes(trigger)) return
    // Only what happens after the reminder was set counts.
    if (event.timestamp < pending.createdAt) return
    await this.cancel(
      event.sessionId,
      t.jid,
      pending.id,
      trigger === 'inbound' ? 'the customer wrote again' : 'someone replied',
    )
  }
}
