import { CronExpressionParser } from 'cron-parser'
import { phoneOf } from '../domain/jid.js'
import { counterScope, countersFromTotals, type UserCounters } from '../inbox/counters.js'
import { countsAsAnswer, ingestRulesFrom } from '../inbox/ingest.js'
import { extendDue, mulberry32, planDelay, type TimedMessage } from '../receipts/delay-model.js'
import type { Rules } from '../rules/compile.js'
import type { CounterReset, SlaAction, SlaState } from '../rules/schema.js'
import { matchPolicy, type PeriodKind, type PlannedLevel, planClock, renderSubject } from '../sla/policy.js'
import { ChatModel, type ModelChat } from './chat-model.js'
import type { Scenario, ScenarioEvent } from './scenario.js'

/**
 * The rules dry-run: plays a scenario against the rules with a virtual clock and an in-memory timer
 * queue, deciding with the same functions the live service uses (planDelay/extendDue for receipts,
 * matchPolicy/planClock/renderSubject for SLA clocks, the chat transitions of ./chat-model.ts for
 * counters, cron-parser for scheduled resets). What differs from live is only the clock and the
 * scheduler; the orchestration below mirrors ReceiptPlanner, SlaPlanner, jobs/sla-level.ts,
 * ReminderService and jobs/counter-reset.ts step by step, and test/dryrun/live-vs-dry-run.test.ts
 * compares the action sequences of both on one scenario.
 *
 * Nothing is performed: actions are described (who a task would go to, which URL a webhook would hit).
 */

export interface ChatCounters {
  chat: string
  unanswered: number
  waitingSince: number | null
  owner: string | null
  unread: number
}

export interface CountersSnapshot {
  chats: ChatCounters[]
  /** Every user of the session's org (red/grey as GET /v1/counters would show them). */
  users: UserCounters[]
}

export interface ActionOutcome {
  action: SlaActionName
  detail: string
  ok: boolean
}

export type SlaActionName = 'markUnread' | 'setState' | 'crmTask' | 'reassign' | 'webhook'

export type TimelineEntry =
  | {
      kind: 'event'
      at: number
      index: number
      event: ScenarioEvent
      /** What the event did not do, or did besides the usual (a duplicate ignored, an unknown chat). */
      notes: string[]
      counters: CountersSnapshot
    }
  | {
      kind: 'receipt'
      at: number
      chat: string
      messageIds: string[]
      /** From the first message's arrival to the receipt. */
      delayMs: number
      /** `delay`: the human-like delay ran out; `reply`: our side replied and read the chat first. */
      reason: 'delay' | 'reply'
    }
  | { kind: 'receipt-cancelled'; at: number; chat: string; messages: number }
  | {
      kind: 'sla-open'
      at: number
      chat: string
      policy: string
      waitSeq: number
      period: PeriodKind
      waitingSince: number
      deadline: number
      levels: PlannedLevel[]
    }
  | { kind: 'sla-close'; at: number; chat: string; policy: string; waitSeq: number; cancelled: number[] }
  | { kind: 'sla-unmatched'; at: number; chat: string; owner: string | null }
  | {
      kind: 'sla-level'
      at: number
      chat: string
      policy: string
      waitSeq: number
      /** Index in the policy's `levels` (0 = the first), as in the live breach log. */
      level: number
      dueAt: number
      period: PeriodKind
      actions: ActionOutcome[]
      counters: CountersSnapshot
    }
  | {
      kind: 'reset'
      at: number
      rule: string
      cron: string
      timeZone: string
      chats: number
      messages: number
      counters: CountersSnapshot
    }
  | { kind: 'reminder-set'; at: number; chat: string; dueAt: number; replaced: boolean }
  | { kind: 'reminder-cancelled'; at: number; chat: string; why: string }
  | { kind: 'reminder'; at: number; chat: string; clearFirst: boolean; ok: boolean; detail: string }

export type TimelineKind = TimelineEntry['kind']

export interface DisplayZone {
  zone: string
  /** Why this zone: `calendar office (SLA policy sales)`, `hubspot.timeZone of org acme`. */
  source: string
}

export interface DryRunResult {
  session: string
  org: string
  start: number
  end: number
  seed: number
  timeZone: DisplayZone
  timeline: TimelineEntry[]
}

interface Timer {
  at: number
  seq: number
  fire: () => void
}

interface PendingReceiptEntry {
  id: string
  arrivedAt: number
  message: TimedMessage
}

/** One chat's receipt state, as the seen-* scripts keep it in Redis. */
interface ReceiptState {
  pending: Map<string, PendingReceiptEntry>
  batch: Map<string, PendingReceiptEntry>
  sent: Set<string>
  scheduled: boolean
  due: number
  clampAt: number
  gen: number
  reason: 'delay' | 'reply'
  timer: Timer | null
}

interface OpenClock {
  policy: string
  waitSeq: number
  waitingSince: number
  kind: PeriodKind
  levels: PlannedLevel[]
  state: SlaState
  fired: Set<number>
  timers: Map<number, Timer>
}

interface PendingReminder {
  dueAt: number
  createdAt: number
  clearFirst: boolean
  cancelOn: Array<'inbound' | 'outbound'>
  timer: Timer
}

/** A guard against scenarios that would run for ever (a per-minute reset with `until: +1y`). */
const MAX_ENTRIES = 100_000

export function dryRun(rules: Rules, scenario: Scenario): DryRunResult {
  return new DryRun(rules, scenario).run()
}

class DryRun {
  private now: number
  private seq = 0
  private readonly timers: Timer[] = []
  private readonly model = new ChatModel()
  private readonly receipts = new Map<string, ReceiptState>()
  private readonly clocks = new Map<string, OpenClock>()
  private readonly reminders = new Map<string, PendingReminder>()
  private readonly timeline: TimelineEntry[] = []
  private readonly rand: () => number
  private readonly sid: string
  private readonly org: string
  private readonly resets: Array<{ rule: CounterReset; next: number; iterate: () => number }>

  constructor(
    private readonly rules: Rules,
    private readonly scenario: Scenario,
  ) {
    const session = rules.sessions.get(scenario.session)
    if (!session) throw new Error(`unknown session ${scenario.session}`)
    this.sid = session.id
    this.org = session.org
    this.now = scenario.start
    this.rand = mulberry32(scenario.seed)
    // The `counters.resets` rules whose scope includes the session, each with its cron in its own zone.
    this.resets = rules.config.counters.resets
      .filter((r) => ('org' in r.scope ? r.scope.org === session.org : r.scope.session === session.id))
      .map((rule) => {
        const it = CronExpressionParser.parse(rule.cron, {
          tz: rule.timeZone,
          currentDate: new Date(scenario.start),
        })
        const iterate = () => it.next().getTime()
        return { rule, next: iterate(), iterate }
      })
  }

  run(): DryRunResult {
    for (const event of this.scenario.events) {
      this.advance(event.at, false)
      this.now = event.at
      this.apply(event)
    }
    const last = this.scenario.events.at(-1)!.at
    this.advance(this.scenario.until ?? Number.POSITIVE_INFINITY, true, last)
    return {
      session: this.sid,
      org: this.org,
      start: this.scenario.start,
      end: this.now,
      seed: this.scenario.seed,
      timeZone: this.displayZone(),
      timeline: this.timeline,
    }
  }

  // --- the virtual clock and scheduler ---------------------------------------------------------------

  private schedule(at: number, fire: () => void): Timer {
    const timer = { at, seq: this.seq++, fire }
    this.timers.push(timer)
    return timer
  }

  private unschedule(timer: Timer | null | undefined): void {
    if (!timer) return
    const i = this.timers.indexOf(timer)
    if (i >= 0) this.timers.splice(i, 1)
  }

  private nextTimer(): Timer | undefined {
    let best: Timer | undefined
    for (const t of this.timers)
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    return best
  }

  /**
   * Fires timers and scheduled resets in time order up to `limit` (before it, or up to and including it
   * with `inclusive`). Without a limit (draining after the last event), resets only fire while
   * something else is still to come, or up to the last event: they would repeat forever.
   */
  private advance(limit: number, inclusive: boolean, lastEvent = Number.NEGATIVE_INFINITY): void {
    const within = (at: number) => (inclusive ? at <= limit : at < limit)
    for (;;) {
      // A frequent cron with a far `until` would otherwise print for ever.
      if (this.timeline.length > MAX_ENTRIES) {
        throw new RangeError(`the scenario produces more than ${MAX_ENTRIES} entries: bring \`until\` closer`)
      }
      const timer = this.nextTimer()
      const reset = this.resets.reduce<(typeof this.resets)[number] | undefined>(
        (best, r) => (!best || r.next < best.next ? r : best),
        undefined,
      )
      const bounded = Number.isFinite(limit)
      const resetDue =
        reset &&
        within(reset.next) &&
        (bounded || reset.next <= lastEvent || (timer !== undefined && reset.next < timer.at))
      if (resetDue && (!timer || reset.next < timer.at)) {
        this.now = reset.next
        reset.next = reset.iterate()
        this.fireReset(reset.rule)
        continue
      }
      if (!timer || !within(timer.at)) break
      this.unschedule(timer)
      this.now = Math.max(this.now, timer.at)
      timer.fire()
    }
    if (Number.isFinite(limit) && inclusive) this.now = Math.max(this.now, limit)
  }

  // --- inputs ----------------------------------------------------------------------------------------

  private apply(e: ScenarioEvent): void {
    const entry: Extract<TimelineEntry, { kind: 'event' }> = {
      kind: 'event',
      at: e.at,
      index: e.index,
      event: e,
      notes: [],
      counters: { chats: [], users: [] },
    }
    this.timeline.push(entry)
    const note = (text: string) => entry.notes.push(text)
    const session = this.rules.sessions.get(this.sid)!
    switch (e.type) {
      case 'customer': {
        const t = this.model.message({
          jid: e.chat,
          type: e.chatType,
          id: e.id,
          fromMe: false,
          timestamp: e.sentAt,
          preview: e.text ?? '',
          ...(e.name ? { pushName: e.name } : {}),
          defaultOwner: session.defaultOwner,
          now: this.now,
        })
        if (t.duplicate) {
          note(`duplicate of message ${e.id}: ignored`)
          break
        }
        if (e.sentAt <= this.model.getChat(e.chat)!.lastAnswerAt) {
          note('older than the last answer: it does not wait for a reply')
        }
        this.receiptsOnCustomer(e)
        this.remindersOnMessage(e.chat, 'inbound', e.sentAt)
        this.syncSla(e.chat)
        break
      }
      case 'reply': {
        const key = { remoteJid: e.chat, fromMe: true, id: e.id }
        const answers = countsAsAnswer({ key, origin: e.from }, ingestRulesFrom(this.rules))
        const t = this.model.message({
          jid: e.chat,
          type: e.chatType,
          id: e.id,
          fromMe: true,
          timestamp: e.at,
          countsAsAnswer: answers,
          preview: e.text ?? '',
          defaultOwner: session.defaultOwner,
          now: this.now,
        })
        if (t.duplicate) {
          note(`duplicate of message ${e.id}: ignored`)
          break
        }
        if (!answers) note('a bot reply does not count as an answer (counters.botRepliesCount: false)')
        this.receiptsOnReply(e.chat, e.from)
        this.remindersOnMessage(e.chat, 'outbound', e.at)
        this.syncSla(e.chat)
        break
      }
      case 'no-reply-needed': {
        const t = this.model.noReplyNeeded(e.chat, e.at)
        if (!t) note('no such chat yet: nothing to clear')
        else this.syncSla(e.chat)
        break
      }
      case 'owner': {
        const t = this.model.setOwner(e.chat, e.owner)
        if (!t) note('no such chat yet: the owner change is ignored')
        // As live: an owner change does not re-plan an open SLA clock (the next waiting period will).
        else if (this.clocks.has(e.chat))
          note('the open SLA clock keeps its policy until the chat is answered')
        break
      }
      case 'reset': {
        const only = e.owner ? { owner: e.owner } : {}
        if (e.chat) {
          const t = this.model.clearUnanswered(e.chat, e.at, only)
          if (!t) note('no such chat yet: nothing to reset')
          else {
            if (e.owner && t.owner !== e.owner) note(`not ${e.owner}'s chat: unchanged`)
            this.syncSla(e.chat)
          }
        } else {
          const cleared = this.model.reset(e.at, only)
          note(`${cleared.length} chat(s) cleared`)
          for (const t of cleared) this.syncSla(t.jid)
        }
        break
      }
      case 'read': {
        const t = this.model.markRead(e.chat, e.at)
        if (!t) note('no such chat yet')
        else this.receiptsCancel(e.chat)
        break
      }
      case 'remind':
        this.remind(e, note)
        break
    }
    entry.counters = this.counters()
  }

  // --- receipts: mirrors ReceiptPlanner and the seen-* scripts ---------------------------------------

  private receiptState(chat: string): ReceiptState {
    let r = this.receipts.get(chat)
    if (!r) {
      r = {
        pending: new Map(),
        batch: new Map(),
        sent: new Set(),
        scheduled: false,
        due: 0,
        clampAt: 0,
        gen: 0,
        reason: 'delay',
        timer: null,
      }
      this.receipts.set(chat, r)
    }
    return r
  }

  private receiptsOnCustomer(e: Extract<ScenarioEvent, { type: 'customer' }>): void {
    const policy = this.rules.seenPolicyFor(this.sid)
    if (!policy || policy.policy === 'off') return
    const params = policy.delay
    const now = this.now
    const message: TimedMessage = {
      ...(e.text ? { text: e.text } : {}),
      media: Boolean(e.media),
      timestamp: e.sentAt,
    }
    // Drawn for every message, as live does, so the random sequence stays the same.
    const first = planDelay({ messages: [message], now, rand: this.rand, params })
    const r = this.receiptState(e.chat)
    if (r.sent.has(e.id) || r.batch.has(e.id)) return
    const entry = { id: e.id, arrivedAt: now, message }
    if (policy.policy !== 'auto') {
      if (!r.pending.has(e.id)) r.pending.set(e.id, entry)
      return
    }
    r.pending.delete(e.id)
    r.batch.set(e.id, entry)
    if (!r.scheduled) {
      r.gen++
      r.scheduled = true
      r.due = now + first.delayMs
      r.clampAt = now + params.max
      r.reason = 'delay'
      this.armReceipt(e.chat, r)
      return
    }
    const due =
      first.reason === 'backlog'
        ? Math.max(r.due, Math.min(now, r.clampAt))
        : extendDue({ currentDueAt: r.due, clampAt: r.clampAt, now, message, params })
    if (due !== r.due) {
      r.due = due
      this.armReceipt(e.chat, r)
    }
  }

  /** A reply from our side (not typed on the phone) reads the chat first: everything waiting, now. */
  private receiptsOnReply(chat: string, from: 'phone' | 'bot' | 'crm'): void {
    const policy = this.rules.seenPolicyFor(this.sid)
    if (!policy || policy.policy === 'off' || from === 'phone' || !policy.markSeenBeforeReply) return
    const r = this.receiptState(chat)
    for (const [id, entry] of r.pending) r.batch.set(id, entry)
    r.pending.clear()
    if (r.batch.size === 0) return
    r.reason = 'reply'
    if (!r.scheduled) {
      r.gen++
      r.scheduled = true
      r.due = this.now
      r.clampAt = this.now + policy.delay.max
    } else {
      r.due = Math.min(r.due, this.now)
    }
    this.armReceipt(chat, r)
  }

  /** Read on the phone first: nothing is left to receipt. */
  private receiptsCancel(chat: string): void {
    const r = this.receipts.get(chat)
    if (!r) return
    const messages = r.batch.size + r.pending.size
    const scheduled = r.scheduled
    r.pending.clear()
    r.batch.clear()
    r.scheduled = false
    this.unschedule(r.timer)
    r.timer = null
    if (scheduled) this.timeline.push({ kind: 'receipt-cancelled', at: this.now, chat, messages })
  }

  private armReceipt(chat: string, r: ReceiptState): void {
    this.unschedule(r.timer)
    const gen = r.gen
    r.timer = this.schedule(Math.max(r.due, this.now), () => this.fireReceipt(chat, gen))
  }

  /** The seen-receipt job: takes the whole batch, sends one receipt. */
  private fireReceipt(chat: string, gen: number): void {
    const r = this.receipts.get(chat)!
    if (r.gen === gen) {
      r.scheduled = false
      r.timer = null
    }
    const entries = [...r.batch.values()].filter((e) => !r.sent.has(e.id))
    if (entries.length === 0) return
    entries.sort((a, b) => a.message.timestamp - b.message.timestamp)
    for (const e of entries) {
      r.batch.delete(e.id)
      r.pending.delete(e.id)
      r.sent.add(e.id)
    }
    this.timeline.push({
      kind: 'receipt',
      at: this.now,
      chat,
      messageIds: entries.map((e) => e.id),
      delayMs: this.now - Math.min(...entries.map((e) => e.arrivedAt)),
      reason: r.reason,
    })
  }

  // --- SLA clocks: mirrors SlaPlanner.sync and jobs/sla-level.ts -------------------------------------

  private syncSla(jid: string): void {
    const chat = this.model.getChat(jid)
    const clock = this.clocks.get(jid)
    const waiting = chat !== null && chat.unanswered > 0 && chat.waitingSince !== null
    if (clock && (!waiting || clock.waitSeq !== chat.waitSeq)) this.disarm(jid, clock)
    if (!waiting || (clock && clock.waitSeq === chat.waitSeq)) return
    const policy = matchPolicy(this.rules, { sessionId: this.sid, type: chat.type, owner: chat.owner })
    if (!policy) {
      this.timeline.push({ kind: 'sla-unmatched', at: this.now, chat: jid, owner: chat.owner })
      return
    }
    const since = chat.waitingSince!
    const kind: PeriodKind = chat.lastOutboundAt > 0 && chat.lastOutboundAt < since ? 'next' : 'first'
    const plan = planClock(this.rules, policy, since, kind)
    const open: OpenClock = {
      policy: policy.id,
      waitSeq: chat.waitSeq,
      waitingSince: since,
      kind,
      levels: plan.levels,
      state: 'ok',
      fired: new Set(),
      timers: new Map(),
    }
    for (const l of plan.levels) {
      open.timers.set(
        l.level,
        this.schedule(Math.max(l.dueAt, this.now), () => this.fireLevel(jid, open, l)),
      )
    }
    this.clocks.set(jid, open)
    this.timeline.push({
      kind: 'sla-open',
      at: this.now,
      chat: jid,
      policy: policy.id,
      waitSeq: chat.waitSeq,
      period: kind,
      waitingSince: since,
      deadline: plan.deadline,
      levels: plan.levels,
    })
  }

  private disarm(jid: string, clock: OpenClock): void {
    for (const timer of clock.timers.values()) this.unschedule(timer)
    this.clocks.delete(jid)
    this.timeline.push({
      kind: 'sla-close',
      at: this.now,
      chat: jid,
      policy: clock.policy,
      waitSeq: clock.waitSeq,
      cancelled: clock.levels.map((l) => l.level).filter((l) => !clock.fired.has(l)),
    })
  }

  private fireLevel(jid: string, clock: OpenClock, planned: PlannedLevel): void {
    clock.timers.delete(planned.level)
    const chat = this.model.getChat(jid)
    // The claim (sla-claim.lua): only while the same waiting period is open, once per level.
    if (
      !chat ||
      chat.waitSeq !== clock.waitSeq ||
      chat.unanswered === 0 ||
      this.clocks.get(jid) !== clock ||
      clock.fired.has(planned.level)
    )
      return
    clock.fired.add(planned.level)
    const policy = this.rules.config.sla.policies.find((p) => p.id === clock.policy)!
    const level = policy.levels[planned.level]!
    const actions = level.actions.map((a) => this.perform(a, chat, clock, planned.level))
    this.timeline.push({
      kind: 'sla-level',
      at: this.now,
      chat: jid,
      policy: policy.id,
      waitSeq: clock.waitSeq,
      level: planned.level,
      dueAt: planned.dueAt,
      period: clock.kind,
      actions,
      counters: this.counters(),
    })
  }

  /** Describes what an action would do, and applies its effect on the chat (as the live job does). */
  private perform(action: SlaAction, chat: ModelChat, clock: OpenClock, level: number): ActionOutcome {
    if ('markUnread' in action) {
      if (!chat.lastMessage)
        return { action: 'markUnread', detail: 'skipped: no stored last message', ok: false }
      this.model.setMarkedUnread(chat.jid, true)
      return { action: 'markUnread', detail: 'marked unread on WhatsApp', ok: true }
    }
    if ('setState' in action) {
      clock.state = action.setState
      return { action: 'setState', detail: action.setState, ok: true }
    }
    if ('reassign' in action) {
      const to =
        action.reassign.to === 'supervisor'
          ? chat.owner
            ? (this.rules.supervisorsOf(chat.owner)[0]?.id ?? null)
            : null
          : action.reassign.to
      if (!to) return { action: 'reassign', detail: 'skipped: the owner has no supervisor', ok: false }
      if (to === chat.owner) return { action: 'reassign', detail: `already owned by ${to}`, ok: true }
      this.model.setOwner(chat.jid, to)
      return { action: 'reassign', detail: `from ${chat.owner ?? 'unassigned'} to ${to}`, ok: true }
    }
    if ('webhook' in action) {
      const signed = action.webhook.secretEnv ? ` (signed with $${action.webhook.secretEnv})` : ''
      return { action: 'webhook', detail: `POST ${action.webhook.url}${signed}`, ok: true }
    }
    const task = action.crmTask
    const assignee = task.assignTo === 'owner' ? chat.owner : task.assignTo
    const phone = phoneOf(chat.jid) ?? null
    const subject = renderSubject(task.subject, {
      contact: chat.name ?? phone ?? chat.jid,
      chat: chat.jid,
      policy: clock.policy,
      level: String(level + 1),
      waiting: `${chat.unanswered} message${chat.unanswered === 1 ? '' : 's'}`,
    })
    return {
      action: 'crmTask',
      detail: `"${subject}" for ${assignee ?? 'nobody (the chat has no owner)'}, priority ${task.priority}`,
      ok: assignee !== null,
    }
  }

  // --- scheduled resets: mirrors jobs/counter-reset.ts -----------------------------------------------

  private fireReset(rule: CounterReset): void {
    // The reset instant is the scheduled one; every waiting chat of the session, one by one.
    const at = this.now
    const entry: Extract<TimelineEntry, { kind: 'reset' }> = {
      kind: 'reset',
      at,
      rule: rule.id,
      cron: rule.cron,
      timeZone: rule.timeZone,
      chats: 0,
      messages: 0,
      counters: { chats: [], users: [] },
    }
    this.timeline.push(entry)
    for (const chat of this.model.allChats().filter((c) => c.unanswered > 0)) {
      const t = this.model.clearUnanswered(chat.jid, at)
      if (!t) continue
      const cleared = (t.clearedFrom ?? 0) - t.unanswered
      if (cleared > 0) {
        entry.chats++
        entry.messages += cleared
      }
      this.syncSla(chat.jid)
    }
    entry.counters = this.counters()
  }

  // --- reminders: mirrors ReminderService and jobs/unread-reminder.ts --------------------------------

  private remind(e: Extract<ScenarioEvent, { type: 'remind' }>, note: (text: string) => void): void {
    const chat = this.model.getChat(e.chat)
    if (!chat?.lastMessage) {
      note(chat ? 'not set: the chat has no message yet' : 'not set: no such chat yet')
      return
    }
    const defaults = this.rules.config.reminders.defaults
    const previous = this.reminders.get(e.chat)
    this.unschedule(previous?.timer)
    const dueAt = Math.max(e.at + e.after, this.now)
    const reminder: PendingReminder = {
      dueAt,
      createdAt: this.now,
      clearFirst: e.clearFirst ?? defaults.clearFirst,
      cancelOn: e.cancelOn ?? [...defaults.cancelOn],
      timer: this.schedule(dueAt, () => this.fireReminder(e.chat)),
    }
    this.reminders.set(e.chat, reminder)
    this.timeline.push({ kind: 'reminder-set', at: this.now, chat: e.chat, dueAt, replaced: !!previous })
  }

  private remindersOnMessage(chat: string, trigger: 'inbound' | 'outbound', timestamp: number): void {
    const r = this.reminders.get(chat)
    if (!r?.cancelOn.includes(trigger) || timestamp < r.createdAt) return
    this.unschedule(r.timer)
    this.reminders.delete(chat)
    const why = trigger === 'inbound' ? 'the customer wrote again' : 'someone replied'
    this.timeline.push({ kind: 'reminder-cancelled', at: this.now, chat, why })
  }

  private fireReminder(jid: string): void {
    const r = this.reminders.get(jid)!
    this.reminders.delete(jid)
    const chat = this.model.getChat(jid)
    if (!chat?.lastMessage) {
      const detail = 'failed: the chat has no stored last message'
      this.timeline.push({
        kind: 'reminder',
        at: this.now,
        chat: jid,
        clearFirst: r.clearFirst,
        ok: false,
        detail,
      })
      return
    }
    if (r.clearFirst) this.model.markRead(jid, this.now)
    this.model.setMarkedUnread(jid, true)
    const detail = r.clearFirst
      ? 'marked read, then unread (the reminder dot)'
      : 'marked unread (the reminder dot)'
    this.timeline.push({
      kind: 'reminder',
      at: this.now,
      chat: jid,
      clearFirst: r.clearFirst,
      ok: true,
      detail,
    })
  }

  // --- counters and the display zone -----------------------------------------------------------------

  private counters(): CountersSnapshot {
    const chats = this.model.allChats().map((c) => ({
      chat: c.jid,
      unanswered: c.unanswered,
      waitingSince: c.waitingSince,
      owner: c.owner,
      unread: c.unreadCount,
    }))
    const users: UserCounters[] = []
    for (const user of this.rules.config.users) {
      if (user.org !== this.org) continue
      const scope = counterScope(this.rules, user.id)!
      // Only this session is modelled: other sessions of the org count as empty.
      const totals = scope.sessionIds.includes(this.sid)
        ? this.model.unansweredOf(scope.owners)
        : new Map<string | null, number>()
      users.push(countersFromTotals(scope, totals))
    }
    return { chats, users }
  }

  /** The calendar zone of the first SLA policy used (or that a new chat would get), else the org's. */
  private displayZone(): DisplayZone {
    const opened = this.timeline.find((e) => e.kind === 'sla-open')
    const session = this.rules.sessions.get(this.sid)!
    const policy = opened
      ? this.rules.config.sla.policies.find((p) => p.id === opened.policy)
      : matchPolicy(this.rules, { sessionId: this.sid, type: 'dm', owner: session.defaultOwner })
    if (policy && policy.calendar !== '24/7') {
      const calendar = this.rules.calendars.get(policy.calendar)!
      return {
        zone: calendar.timeZone,
        source: `calendar ${calendar.id} of SLA policy ${policy.id}`,
      }
    }
    const org = this.rules.orgs.get(this.org)!
    return { zone: org.hubspot.timeZone, source: `hubspot.timeZone of org ${org.id}` }
  }
}
