/**
 * Redis key layout. Every key of a session carries the session id as a hash tag (`{sid}`), so a
 * session's keys share one Redis Cluster slot and its Lua scripts stay atomic on a cluster, while
 * different sessions spread over the shards.
 */
export class Keys {
  constructor(readonly prefix: string) {}

  /** Base of every per-session key: `<prefix>:{<sid>}:`. */
  session(sid: string): string {
    return `${this.prefix}:{${sid}}:`
  }

  chatsIndex(sid: string): string {
    return `${this.session(sid)}chats`
  }

  /** Keys of the chat-state Lua scripts, in the order they expect them. */
  chatScriptKeys(sid: string): string[] {
    const s = this.session(sid)
    return [
      `${s}alias`,
      `${s}chats`,
      `${s}unread`,
      `${s}unanswered`,
      `${s}owner-unanswered`,
      `${s}owner-waiting`,
      `${s}lid-pn`,
      `${s}pn-lid`,
    ]
  }

  chat(sid: string, jid: string): string {
    return `${this.session(sid)}chat:${jid}`
  }

  waiting(sid: string, jid: string): string {
    return `${this.session(sid)}wait:${jid}`
  }

  seenMessages(sid: string, jid: string): string {
    return `${this.session(sid)}msgs:${jid}`
  }

  alias(sid: string): string {
    return `${this.session(sid)}alias`
  }

  unreadIndex(sid: string): string {
    return `${this.session(sid)}unread`
  }

  unansweredIndex(sid: string): string {
    return `${this.session(sid)}unanswered`
  }

  ownerUnanswered(sid: string): string {
    return `${this.session(sid)}owner-unanswered`
  }

  ownerWaiting(sid: string): string {
    return `${this.session(sid)}owner-waiting`
  }

  contacts(sid: string): string {
    return `${this.session(sid)}contacts`
  }

  contactsIndex(sid: string): string {
    return `${this.session(sid)}contacts-idx`
  }

  groupMembers(sid: string, groupJid: string): string {
    return `${this.session(sid)}group-members:${groupJid}`
  }

  /** Recent rises of chats in the index (a stream written by _lib.lua's settle), for overview cursors. */
  chatMoves(sid: string): string {
    return `${this.session(sid)}moves`
  }

  /** Customer message keys remembered for a receipt the API may ask for (manual policy). */
  seenPending(sid: string, jid: string): string {
    return `${this.session(sid)}seen:pending:${jid}`
  }

  /** Customer message keys in the chat's next read receipt (message id -> entry). */
  seenBatch(sid: string, jid: string): string {
    return `${this.session(sid)}seen:batch:${jid}`
  }

  /** The chat's receipt batch: generation, whether one is scheduled, due time, clamp. */
  seenMeta(sid: string, jid: string): string {
    return `${this.session(sid)}seen:meta:${jid}`
  }

  /** Message ids recently receipted (bounded), so a retried job never receipts them twice. */
  seenSent(sid: string, jid: string): string {
    return `${this.session(sid)}seen:sent:${jid}`
  }

  /** Records of reminders are `<this><reminder id>`. */
  reminderBase(sid: string): string {
    return `${this.session(sid)}reminder:`
  }

  /** The chat's pending reminder (its id). */
  reminderOf(sid: string, jid: string): string {
    return `${this.session(sid)}reminder-of:${jid}`
  }

  /** The chat's recent reminders, by due time. */
  reminderIndex(sid: string, jid: string): string {
    return `${this.session(sid)}reminders:${jid}`
  }

  /** The chat's open SLA clock (policy, waiting period, planned levels, state). */
  slaClock(sid: string, jid: string): string {
    return `${this.session(sid)}sla:${jid}`
  }

  /** Levels fired in the chat's waiting periods (`<waitSeq>:<level>` -> started/done). */
  slaFired(sid: string, jid: string): string {
    return `${this.session(sid)}sla-fired:${jid}`
  }

  /** Chats of the session with an open SLA clock (for re-planning on a rules change). */
  slaOpen(sid: string): string {
    return `${this.session(sid)}sla-open`
  }

  /** An org's keys share their own hash tag. */
  org(org: string, name: string): string {
    return `${this.prefix}:{org.${org}}:${name}`
  }

  sessionStatus(sid: string): string {
    return `${this.session(sid)}status`
  }

  sessionHistory(sid: string): string {
    return `${this.session(sid)}status-history`
  }

  simInbound(sid: string): string {
    return `${this.session(sid)}sim:inbound`
  }

  simActions(sid: string): string {
    return `${this.session(sid)}sim:actions`
  }

  /** Global (not per-session) keys get their own hash tag so they never force a cross-slot script. */
  global(name: string): string {
    return `${this.prefix}:{global}:${name}`
  }
}
