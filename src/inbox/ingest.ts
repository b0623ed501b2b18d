import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { type InboxEvent, inboxEventSchema, type MessageEvent } from '../domain/events.js'
import type { Fence } from '../fence/fence.js'
import type { Metrics } from '../metrics.js'
import type { Rules } from '../rules/compile.js'
import { formatIssues } from '../rules/report.js'
import type { ChatTransition } from './chat.js'
import type { InboxStore } from './store.js'

/** What ingest needs to know from the admin rules (kept narrow so ingest does not depend on their shape). */
export interface IngestRules {
  hasSession(sessionId: string): boolean
  defaultOwnerOf(sessionId: string): string | null
  /** Whether a bot's outbound message counts as an answer. */
  botRepliesCount(): boolean
  /** Whether a WhatsApp Business greeting/away message counts as an answer (default: no). */
  automatedRepliesCount?(): boolean
}

export function ingestRulesFrom(rules: Rules): IngestRules {
  return {
    hasSession: (sid) => rules.sessions.has(sid),
    defaultOwnerOf: (sid) => rules.sessions.get(sid)?.defaultOwner ?? null,
    botRepliesCount: () => rules.config.counters.botRepliesCount,
    automatedRepliesCount: () => rules.config.counters.automatedReplies.countAsAnswer,
  }
}

const NOTIFY_ATTEMPTS = 8

/**
 * Whether a message answers its chat: anything from our side, a bot's only if the rules say so, a
 * WhatsApp Business greeting/away message only if the rules say so (a person has not answered yet).
 */
export function countsAsAnswer(e: Pick<MessageEvent, 'key' | 'origin'>, rules: IngestRules): boolean {
  if (!e.key.fromMe) return false
  if (e.origin === 'bot') return rules.botRepliesCount()
  if (e.origin === 'auto') return rules.automatedRepliesCount?.() ?? false
  return true
}

export type IngestOutcome =
  | {
      ok: true
      event: InboxEvent
      transition: ChatTransition | null /** chats a session-wide reset cleared */
      cleared?: number
    }
  | { ok: false; reason: 'invalid' | 'unknown_session'; problems: string[] }

export type AppliedListener = (event: InboxEvent, transition: ChatTransition | null) => void | Promise<void>

/**
 * The single door into the inbox state: validates each event from a transport, applies it atomically,
 * and tells listeners (receipts, reminders, SLA, CRM sync) what changed. A malformed event is logged,
 * counted and dropped without touching state.
 */
export class Ingestor {
  private readonly listeners: AppliedListener[] = []

  constructor(
    private readonly deps: {
      store: InboxStore
      rules: () => IngestRules
      clock: Clock
      log: Logger
      metrics: Metrics
    },
  ) {}

  onApplied(listener: AppliedListener): () => void {
    this.listeners.push(listener)
    return () => {
      const i = this.listeners.indexOf(listener)
      if (i >= 0) this.listeners.splice(i, 1)
    }
  }

  /**
   * `fence`: the event comes from a session's holder (its WhatsApp socket); its state change is refused
   * (FenceRefusedError, nothing applied, no listener told) once a newer holder has the session.
   */
  async ingest(raw: unknown, opts: { fence?: Fence } = {}): Promise<IngestOutcome> {
    const started = performance.now()
    const parsed = inboxEventSchema.safeParse(raw)
    if (!parsed.success) {
      const problems = formatIssues(parsed.error.issues)
      const type =
        typeof raw === 'object' && raw && 'type' in raw ? String((raw as { type: unknown }).type) : '?'
      this.deps.metrics.ingestEvents.inc({ type: type.slice(0, 32), outcome: 'invalid' })
      this.deps.log.warn({ problems, eventType: type }, 'dropped a malformed WhatsApp event')
      return { ok: false, reason: 'invalid', problems }
    }
    const event = parsed.data
    const store = opts.fence ? this.deps.store.withFence(opts.fence) : this.deps.store
    const rules = this.deps.rules()
    if (!rules.hasSession(event.sessionId)) {
      this.deps.metrics.ingestEvents.inc({ type: event.type, outcome: 'unknown_session' })
      this.deps.log.warn(
        { sessionId: event.sessionId, eventType: event.type },
        'dropped an event of a session not in the rules',
      )
      return {
        ok: false,
        reason: 'unknown_session',
        problems: [`sessionId: unknown session ${event.sessionId}`],
      }
    }
    if (event.type === 'counters.reset' && !event.chatJid) {
      // A whole-session reset: listeners hear of each chat it cleared, as if reset one by one.
      const cleared = await store.clearSession(
        event.sessionId,
        event.at,
        event.owner ? { owner: event.owner } : {},
      )
      this.deps.metrics.ingestEvents.inc({ type: event.type, outcome: 'applied' })
      for (const t of cleared) await this.notify({ ...event, chatJid: t.jid }, t)
      return { ok: true, event, transition: null, cleared: cleared.length }
    }
    const transition = await this.apply(store, event, rules)
    this.deps.metrics.ingestEvents.inc({
      type: event.type,
      outcome: transition?.duplicate ? 'duplicate' : 'applied',
    })
    this.deps.metrics.ingestSeconds.observe((performance.now() - started) / 1000)
    // A live duplicate notifies too: a worker killed between the state change and its listeners gets the
    // event again, now a duplicate, and the listeners (all idempotent) must still run to completion.
    // Backlog replays (history sync) of messages already seen stay quiet.
    const redelivered = event.type === 'message' && event.delivery === 'live'
    if (!transition?.duplicate || redelivered) await this.notify(event, transition)
    return { ok: true, event, transition }
  }

  /**
   * Runs every listener; one that fails (Redis restarting, most often) is retried with backoff for about
   * 15 s before its failure is logged, so a short outage delays a receipt or a timer but does not drop it.
   */
  private async notify(event: InboxEvent, transition: ChatTransition | null): Promise<void> {
    for (const listener of this.listeners) {
      for (let attempt = 0; ; attempt++) {
        try {
          // A retry is a redelivery to that listener: its first try may have done part of its work (the
          // SLA planner recorded a clock, then Redis went away before its timer was added), and a
          // listener finishes such work only for a transition marked `duplicate`.
          await listener(event, attempt > 0 && transition ? { ...transition, duplicate: true } : transition)
          break
        } catch (err) {
          const giveUp = attempt >= NOTIFY_ATTEMPTS - 1
          this.deps.log[giveUp ? 'error' : 'warn'](
            { err, eventType: event.type, sessionId: event.sessionId, attempt: attempt + 1 },
            giveUp
              ? 'an inbox listener failed; giving up on it for this event'
              : 'an inbox listener failed; retrying',
          )
          if (giveUp) break
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)))
        }
      }
    }
  }

  private async apply(store: InboxStore, e: InboxEvent, rules: IngestRules): Promise<ChatTransition | null> {
    const { clock } = this.deps
    const sid = e.sessionId
    const defaultOwner = rules.defaultOwnerOf(sid)
    switch (e.type) {
      case 'message':
        return store.applyMessage(e, {
          countsAsAnswer: countsAsAnswer(e, rules),
          defaultOwner,
          now: clock.now(),
        })
      case 'chat.read':
        return store.markRead(sid, e.chatJid, e.at, e.upToIds)
      case 'chat.markedUnread':
        return store.setMarkedUnread(sid, e.chatJid, true)
      case 'chat.meta':
        return store.setChatMeta(sid, e.chatJid, e, { defaultOwner, now: clock.now() })
      case 'chat.noReplyNeeded':
        return store.clearUnanswered(sid, e.chatJid, e.at)
      case 'chat.owner':
        return store.setOwner(sid, e.chatJid, e.owner)
      case 'counters.reset': {
        const only = e.owner ? { owner: e.owner } : {}
        if (e.chatJid) return store.clearUnanswered(sid, e.chatJid, e.at, only)
        await store.clearSession(sid, e.at, only)
        return null
      }
      case 'lid.mapping':
        await store.upsertContact(sid, { jid: e.lid, alt: e.pn })
        return store.linkJids(sid, e.lid, e.pn)
      case 'contact':
        await store.upsertContact(sid, {
          jid: e.jid,
          ...(e.jidAlt ? { alt: e.jidAlt } : {}),
          ...(e.name ? { name: e.name } : {}),
          ...(e.pushName ? { pushName: e.pushName } : {}),
          ...(e.verifiedName ? { verifiedName: e.verifiedName } : {}),
        })
        return null
    }
  }
}
