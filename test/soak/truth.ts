/**
 * The soak's ground truth: what the load generator did, kept by the generator itself, and what the
 * rules say must follow from it. Pure: no Redis, no clock; the checker compares it with what the service
 * stored and did.
 */

export interface SoakChat {
  sessionId: string
  jid: string
  group: boolean
  /** The phone digits of a DM (a HubSpot contact), null for groups. */
  phone: string | null
  owner: string | null
}

export interface SentMessage {
  id: string
  ts: number
  kind: 'customer' | 'answer' | 'bot'
}

export interface SoakReminder {
  id: string
  sessionId: string
  jid: string
  createdAt: number
  dueAt: number
}

/** A span during which a session's (or, with sessionId null, every session's) work may run late. */
export interface FaultWindow {
  from: number
  to: number
  sessionId: string | null
  what: string
}

export type Verdict = 'must' | 'mustNot' | 'either'

export const chatKey = (sessionId: string, jid: string) => `${sessionId}|${jid}`

export class Truth {
  readonly chats = new Map<string, SoakChat>()
  readonly messages = new Map<string, SentMessage[]>()
  readonly reminders: SoakReminder[] = []
  readonly faults: FaultWindow[] = []

  addChat(c: SoakChat): void {
    this.chats.set(chatKey(c.sessionId, c.jid), c)
    this.messages.set(chatKey(c.sessionId, c.jid), [])
  }

  record(sessionId: string, jid: string, m: SentMessage): void {
    this.messages.get(chatKey(sessionId, jid))!.push(m)
  }

  /** Customer message ids of each session: under the `auto` policy each gets exactly one read receipt. */
  customerMessageIds(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>()
    for (const [key, msgs] of this.messages) {
      const sid = this.chats.get(key)!.sessionId
      const set = out.get(sid) ?? new Set<string>()
      for (const m of msgs) if (m.kind === 'customer') set.add(m.id)
      out.set(sid, set)
    }
    return out
  }

  /** Customer messages newer than the chat's last answer (bot messages do not answer). */
  unanswered(key: string): number {
    const msgs = this.messages.get(key) ?? []
    const lastAnswer = msgs.reduce((t, m) => (m.kind === 'answer' ? Math.max(t, m.ts) : t), -1)
    return msgs.filter((m) => m.kind === 'customer' && m.ts > lastAnswer).length
  }

  /** Waiting periods: from the first unanswered customer message to the answer that ends it (or open). */
  waitingPeriods(key: string): Array<{ since: number; end: number | null }> {
    // Customer messages sort before an answer of the same millisecond: that answer answers them.
    const msgs = [...(this.messages.get(key) ?? [])]
      .filter((m) => m.kind !== 'bot')
      .sort((a, b) => a.ts - b.ts || (a.kind === 'customer' ? -1 : 1))
    const out: Array<{ since: number; end: number | null }> = []
    let open: { since: number; end: number | null } | null = null
    for (const m of msgs) {
      if (m.kind === 'customer' && !open) {
        open = { since: m.ts, end: null }
        out.push(open)
      } else if (m.kind === 'answer' && open) {
        open.end = m.ts
        open = null
      }
    }
    return out
  }

  /** Whether anything in [from, to] ran late for the session: a verdict there cannot be exact. */
  disturbed(sessionId: string, from: number, to: number): boolean {
    return this.faults.some(
      (f) => (f.sessionId === null || f.sessionId === sessionId) && f.from <= to && f.to >= from,
    )
  }

  /**
   * Each SLA level of each waiting period: `must` fire when the answer came clearly after it was due (or
   * never), `mustNot` when it came clearly before, `either` within `tolMs` of the due time or when a fault
   * window overlaps (the answer's ingest or the timer itself may have run late there).
   */
  slaExpectations(
    levelsAfterMs: number[],
    tolMs: number,
  ): Array<{
    sessionId: string
    jid: string
    since: number
    level: number
    dueAt: number
    verdict: Verdict
  }> {
    const out = []
    for (const [key, chat] of this.chats) {
      for (const p of this.waitingPeriods(key)) {
        for (const [level, after] of levelsAfterMs.entries()) {
          const dueAt = p.since + after
          let verdict: Verdict
          if (p.end === null || p.end - dueAt > tolMs) verdict = 'must'
          else if (dueAt - p.end > tolMs) verdict = 'mustNot'
          else verdict = 'either'
          const span: [number, number] =
            p.end === null ? [dueAt, dueAt] : [Math.min(dueAt, p.end), Math.max(dueAt, p.end)]
          if (
            verdict !== 'either' &&
            p.end !== null &&
            this.disturbed(chat.sessionId, span[0] - tolMs, span[1] + tolMs)
          )
            verdict = 'either'
          out.push({ sessionId: chat.sessionId, jid: chat.jid, since: p.since, level, dueAt, verdict })
        }
      }
    }
    return out
  }

  /**
   * Each reminder (cancelled by the customer writing again): `must` fire when no customer message came
   * between its creation and its due time (plus `tolMs`), `mustNot` when one came clearly before due.
   */
  reminderExpectations(tolMs: number): Array<SoakReminder & { verdict: Verdict }> {
    return this.reminders.map((r) => {
      const inbound = (this.messages.get(chatKey(r.sessionId, r.jid)) ?? []).filter(
        (m) => m.kind === 'customer' && m.ts >= r.createdAt,
      )
      const first = inbound.reduce((t, m) => Math.min(t, m.ts), Number.POSITIVE_INFINITY)
      let verdict: Verdict
      if (first > r.dueAt + tolMs) verdict = 'must'
      else if (first < r.dueAt - tolMs) verdict = 'mustNot'
      else verdict = 'either'
      // A fault between the cancelling message and the due time may hold that message back until after
      // the reminder fired. (A fault near the due time of a `must` only makes it late: it still must fire.)
      if (verdict === 'mustNot' && this.disturbed(r.sessionId, first - tolMs, r.dueAt + tolMs))
        verdict = 'either'
      return { ...r, verdict }
    })
  }

  /** Per-user counters the rules define: red = own chats (+ unassigned if they take new clients), grey = supervised. */
  userCounters(users: Array<{ id: string; supervises: string[]; takesNewClients: boolean }>) {
    const byOwner = new Map<string | null, number>()
    for (const [key, chat] of this.chats)
      byOwner.set(chat.owner, (byOwner.get(chat.owner) ?? 0) + this.unanswered(key))
    return users.map((u) => {
      const red = (byOwner.get(u.id) ?? 0) + (u.takesNewClients ? (byOwner.get(null) ?? 0) : 0)
      const grey = u.supervises.reduce((sum, id) => sum + (byOwner.get(id) ?? 0), 0)
      return { userId: u.id, red, grey }
    })
  }
}
