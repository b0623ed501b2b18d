import type { Logger } from 'pino'
import { catalog, type JobProducer } from '../../jobs/catalog.js'
import type { Clock } from '../clock.js'
import type { InboxEvent } from '../domain/events.js'
import { chatTypeOf } from '../domain/jid.js'
import type { ChatTransition } from '../inbox/chat.js'
import type { InboxStore } from '../inbox/store.js'
import type { Rules } from '../rules/compile.js'
import { matchPolicy, nextLevel, type PeriodKind, planClock } from './policy.js'
import type { SlaClock, SlaStore } from './sla-store.js'
import { armLevel } from './sla-timer.js'

/** Events that can start or end a waiting period. */
const RELEVANT = new Set<InboxEvent['type']>([
  'message',
  'chat.noReplyNeeded',
  'counters.reset',
  'lid.mapping',
])

/**
 * Arms and disarms SLA clocks. When a chat starts waiting, every level of the matching policy is
 * computed ahead in business time and recorded with the clock; the first is scheduled as a delayed job
 * with a deterministic id, and each level schedules the next when it fires. A reply or "no reply
 * needed" removes the pending one. No polling: each timer fires at its due instant.
 */
export class SlaPlanner {
  constructor(
    private readonly deps: {
      store: SlaStore
      inbox: InboxStore
      jobs: JobProducer
      rules: () => Rules
      clock: Clock
      log: Logger
    },
  ) {}

  /** Inbox listener (Ingestor.onApplied). */
  readonly onApplied = async (event: InboxEvent, t: ChatTransition | null): Promise<void> => {
    if (t && RELEVANT.has(event.type)) await this.sync(event.sessionId, t.jid, t)
  }

  /** Brings a chat's clock in line with its waiting state: open, keep, or close. */
  async sync(sid: string, chatJid: string, t?: ChatTransition | null): Promise<void> {
    // The transition that just happened carries the chat's counted state: no read needed for it.
    const [state, clock] = await Promise.all([
      t ?? this.deps.inbox.getChat(sid, chatJid),
      this.deps.store.get(sid, t?.jid ?? chatJid),
    ])
    const waiting = state && state.unanswered > 0 && state.waitingSince !== null
    if (clock && (!waiting || clock.waitSeq !== state.waitSeq)) await this.disarm(clock)
    if (!waiting) return
    if (clock && clock.waitSeq === state.waitSeq) {
      // A redelivered event (its first delivery's worker died): the clock may have been recorded
      // without its timers. Adding them again is idempotent by job id; fired levels are skipped.
      if (t?.duplicate)
        await this.addTimers(clock, await this.deps.store.firedLevels(sid, clock.chatJid, clock.waitSeq))
      return
    }
    const policy = matchPolicy(this.deps.rules(), {
      sessionId: sid,
      type: chatTypeOf(state.jid),
      owner: state.owner,
    })
    if (!policy) return
    const kind: PeriodKind =
      state.lastOutboundAt !== null && state.lastOutboundAt < state.waitingSince! ? 'next' : 'first'
    await this.arm(sid, state.jid, state.waitSeq, state.waitingSince!, kind, policy.id, new Set())
  }

  private async arm(
    sid: string,
    chat: string,
    waitSeq: number,
    waitingSince: number,
    kind: PeriodKind,
    policyId: string,
    alreadyFired: Set<number>,
  ): Promise<void> {
    const rules = this.deps.rules()
    const policy = rules.config.sla.policies.find((p) => p.id === policyId)!
    const plan = planClock(rules, policy, waitingSince, kind)
    const clock: SlaClock = {
      sessionId: sid,
      chatJid: chat,
      policyId,
      waitSeq,
      waitingSince,
      kind,
      deadline: plan.deadline,
      levels: plan.levels,
      state: 'ok',
    }
    await this.deps.store.open(clock)
    await this.addTimers(clock, alreadyFired)
  }

  /**
   * Arms the clock's next level not yet fired (its id is deterministic: adding twice adds once); that
   * level arms the one after it when it fires (jobs/sla-level.ts), so an open clock holds one timer.
   */
  private async addTimers(clock: SlaClock, fired: Set<number>): Promise<void> {
    const next = nextLevel(clock.levels, fired)
    if (next) await armLevel(this.deps.jobs, clock, next, this.deps.clock.now())
  }

  private async disarm(clock: SlaClock): Promise<void> {
    // One round-trip: the timers and the record go together (a level firing meanwhile is stale anyway,
    // since the chat is no longer waiting in this period).
    await Promise.all([
      ...clock.levels.map((l) => {
        const { sessionId, chatJid, waitSeq } = clock
        return this.deps.jobs.remove(
          catalog.slaLevel,
          { sessionId, chatJid, waitSeq, level: l.level },
          { sessionId },
        )
      }),
      this.deps.store.close(clock.sessionId, clock.chatJid),
    ])
  }

  /**
   * After a rules change: every open clock is planned again under the new rules (another policy, other
   * thresholds or calendar); levels that already fired in the period stay fired.
   */
  async replanAll(): Promise<number> {
    let n = 0
    const rules = this.deps.rules()
    for (const sid of rules.sessions.keys()) {
      for (const chatJid of await this.deps.store.openChats(sid)) {
        const clock = await this.deps.store.get(sid, chatJid)
        const chat = await this.deps.inbox.getChat(sid, chatJid)
        if (!clock) {
          await this.deps.store.close(sid, chatJid) // a clock closed halfway: finish closing it
          continue
        }
        const fired = await this.deps.store.firedLevels(sid, chatJid, clock.waitSeq)
        await Promise.all(
          clock.levels.map((l) =>
            this.deps.jobs.remove(
              catalog.slaLevel,
              { sessionId: sid, chatJid, waitSeq: clock.waitSeq, level: l.level },
              { sessionId: sid },
            ),
          ),
        )
        const policy = chat
          ? matchPolicy(rules, { sessionId: sid, type: chat.type, owner: chat.owner })
          : null
        if (!chat || !policy || chat.waitSeq !== clock.waitSeq || chat.unanswered === 0) {
          await this.deps.store.close(sid, chatJid)
          continue
        }
        await this.arm(sid, chatJid, clock.waitSeq, clock.waitingSince, clock.kind, policy.id, fired)
        n++
      }
    }
    this.deps.log.info({ clocks: n }, 'SLA clocks re-planned under the new rules')
    return n
  }
}
