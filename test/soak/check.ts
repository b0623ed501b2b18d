import type { Queue } from 'bullmq'
import { userCounters } from '../../src/inbox/counters.js'
import type { Services } from '../../src/services.js'
import type { RecordedSimAction } from '../../src/whatsapp/sim/network.js'
import { percentile } from '../bench/stats.js'
import type { HubSpotStandIn } from '../hubspot-standin/server.js'
import { chatKey, type Truth } from './truth.js'

/**
 * Compares what the service stored and did with the truth. Each invariant reports what it checked (so a
 * pass over nothing is visible) and its violations, with a few examples.
 */
export interface Invariant {
  checked: number
  violations: number
  examples: string[]
  [detail: string]: unknown
}

export interface WebhookDelivery {
  id: string
  at: number
  event: { sessionId: string; chatJid: string; level: number; waitingSince: string; dueAt: string }
}

const EXAMPLES = 5

function invariant(): Invariant {
  return { checked: 0, violations: 0, examples: [] }
}

function fail(inv: Invariant, example: string): void {
  inv.violations++
  if (inv.examples.length < EXAMPLES) inv.examples.push(example)
}

async function allActions(s: Services, sid: string): Promise<RecordedSimAction[]> {
  const out: RecordedSimAction[] = []
  for (;;) {
    const page = await s.sim!.actions(sid, { after: out.at(-1)?.seq, limit: 5000 })
    out.push(...page)
    if (page.length < 5000) return out
  }
}

export async function checkInvariants(deps: {
  s: Services
  truth: Truth
  sessions: string[]
  users: Array<{ id: string; supervises: string[]; takesNewClients: boolean }>
  hooks: WebhookDelivery[]
  hubspot: HubSpotStandIn
  contactOf: Map<string, string>
  slaLevelsMs: number[]
  toleranceMs: number
  queues: Queue[]
}) {
  const { s, truth } = deps
  const actions = new Map<string, RecordedSimAction[]>()
  for (const sid of deps.sessions) actions.set(sid, await allActions(s, sid))

  // 1. Every customer message: exactly one read receipt (auto policy everywhere).
  const receipts = invariant()
  const receiptDelays: number[] = []
  const sentAt = new Map<string, number>()
  for (const msgs of truth.messages.values()) for (const m of msgs) sentAt.set(m.id, m.ts)
  for (const [sid, expected] of truth.customerMessageIds()) {
    const counts = new Map<string, number>()
    for (const a of actions.get(sid) ?? []) {
      if (a.kind !== 'read') continue
      for (const k of a.keys) {
        counts.set(k.id, (counts.get(k.id) ?? 0) + 1)
        if (counts.get(k.id) === 1 && sentAt.has(k.id)) receiptDelays.push(a.at - sentAt.get(k.id)!)
      }
    }
    for (const id of expected) {
      receipts.checked++
      const c = counts.get(id) ?? 0
      if (c !== 1) fail(receipts, `${sid} message ${id}: ${c} read receipts`)
    }
    for (const id of counts.keys())
      if (!expected.has(id)) fail(receipts, `${sid} receipted ${id}, not a customer message`)
  }

  // 2. Unanswered counters per chat equal the truth.
  const chatsInv = invariant()
  for (const [key, chat] of truth.chats) {
    if ((truth.messages.get(key) ?? []).length === 0) continue
    chatsInv.checked++
    const stored = await s.inbox.getChat(chat.sessionId, chat.jid)
    const want = truth.unanswered(key)
    if ((stored?.unanswered ?? -1) !== want)
      fail(chatsInv, `${key}: stored ${stored?.unanswered ?? 'no chat'}, truth ${want}`)
  }

  // 3. Per-user counters (red/grey) equal the truth.
  const usersInv = invariant()
  const rules = s.rules.current()
  for (const want of truth.userCounters(deps.users)) {
    usersInv.checked++
    const got = await userCounters(s.inbox, rules, want.userId)
    if (!got || got.red !== want.red || got.grey !== want.grey)
      fail(usersInv, `${want.userId}: red ${got?.red}/${want.red}, grey ${got?.grey}/${want.grey}`)
  }

  // 4. SLA levels: due ones fired exactly once, cancelled ones never (webhook deliveries, de-duplicated by id).
  const sla = invariant()
  const byPeriod = new Map<string, Set<string>>()
  let redelivered = 0
  const seenIds = new Set<string>()
  const slaLateness: number[] = []
  for (const h of deps.hooks) {
    if (seenIds.has(h.id)) {
      redelivered++
      continue
    }
    seenIds.add(h.id)
    // Webhooks number levels from 1; the truth counts the policy's levels from 0.
    const k = `${chatKey(h.event.sessionId, h.event.chatJid)}|${Date.parse(h.event.waitingSince)}|${h.event.level - 1}`
    byPeriod.set(k, (byPeriod.get(k) ?? new Set()).add(h.id))
    slaLateness.push(h.at - Date.parse(h.event.dueAt))
  }
  const verdicts = { must: 0, mustNot: 0, either: 0 }
  const expectedKeys = new Set<string>()
  for (const e of truth.slaExpectations(deps.slaLevelsMs, deps.toleranceMs)) {
    verdicts[e.verdict]++
    const k = `${chatKey(e.sessionId, e.jid)}|${e.since}|${e.level}`
    expectedKeys.add(k)
    const fired = byPeriod.get(k)?.size ?? 0
    if (e.verdict !== 'either') sla.checked++
    if (fired > 1) fail(sla, `${k}: fired ${fired} times`)
    else if (e.verdict === 'must' && fired !== 1)
      fail(sla, `${k}: due at ${new Date(e.dueAt).toISOString()}, never fired`)
    else if (e.verdict === 'mustNot' && fired !== 0) fail(sla, `${k}: answered before due, fired anyway`)
  }
  for (const k of byPeriod.keys()) {
    if (expectedKeys.has(k)) continue
    const [sid, jid] = k.split('|') as [string, string]
    const periods = truth.waitingPeriods(chatKey(sid, jid)).map((p) => `${p.since}..${p.end ?? 'open'}`)
    const msgs = (truth.messages.get(chatKey(sid, jid)) ?? []).map((m) => `${m.kind[0]}${m.ts}`)
    fail(
      sla,
      `${k}: fired for no waiting period of the truth (periods ${periods.join(' ')}; sent ${msgs.join(' ')})`,
    )
  }

  // 5. Reminders: each that was due fired once (one markUnread), each cancelled by a customer message never.
  const rem = invariant()
  const remVerdicts = { must: 0, mustNot: 0, either: 0 }
  const unreadMarks = new Map<string, number[]>()
  for (const [sid, list] of actions)
    for (const a of list)
      if (a.kind === 'chatModify' && a.modification === 'markUnread') {
        const k = chatKey(sid, a.jid)
        unreadMarks.set(k, [...(unreadMarks.get(k) ?? []), a.at])
      }
  const reminderLateness: number[] = []
  const remindersOfChat = new Map<string, Array<{ verdict: string; dueAt: number; id: string }>>()
  for (const r of truth.reminderExpectations(deps.toleranceMs)) {
    remVerdicts[r.verdict]++
    const k = chatKey(r.sessionId, r.jid)
    remindersOfChat.set(k, [...(remindersOfChat.get(k) ?? []), r])
    const stored = await s.reminderStore.get(r.sessionId, r.id)
    if (r.verdict === 'either') continue
    rem.checked++
    if (r.verdict === 'must' && stored?.status !== 'done')
      fail(rem, `${k} reminder ${r.id}: due, status ${stored?.status ?? 'missing'} (${stored?.detail ?? ''})`)
    if (r.verdict === 'mustNot' && stored?.status === 'done')
      fail(rem, `${k} reminder ${r.id}: cancelled by a customer message, fired anyway`)
  }
  for (const [k, list] of remindersOfChat) {
    const marks = unreadMarks.get(k) ?? []
    const min = list.filter((r) => r.verdict === 'must').length
    const max = list.filter((r) => r.verdict !== 'mustNot').length
    if (marks.length < min || marks.length > max)
      fail(rem, `${k}: ${marks.length} markUnread on WhatsApp, expected ${min}..${max}`)
    if (list.length === 1 && marks.length === 1) reminderLateness.push(marks[0]! - list[0]!.dueAt)
  }
  for (const k of unreadMarks.keys())
    if (!remindersOfChat.has(k)) fail(rem, `${k}: marked unread without a reminder`)

  // 6. HubSpot holds each contact's final unanswered count (the sum over the chats of its phone).
  const hs = invariant()
  const perContact = new Map<string, number>()
  for (const [key, chat] of truth.chats) {
    if (!chat.phone || (truth.messages.get(key) ?? []).length === 0) continue
    const id = deps.contactOf.get(chat.phone)!
    perContact.set(id, (perContact.get(id) ?? 0) + truth.unanswered(key))
  }
  for (const [id, want] of perContact) {
    hs.checked++
    const got = deps.hubspot.contact(id)?.properties.wa_unanswered_count
    if (String(got ?? '') !== String(want))
      fail(hs, `contact ${id}: HubSpot ${got ?? 'unset'}, truth ${want}`)
  }

  // 7. HubSpot tasks: the last level of each DM's period that fired has its task on the contact (a task
  // created twice, after a crash between HubSpot's answer and the job's completion, is counted apart).
  const tasks = invariant()
  const lastLevel = deps.slaLevelsMs.length - 1
  const firedPerContact = new Map<string, number>()
  for (const k of byPeriod.keys()) {
    const [sid, jid, , level] = k.split('|') as [string, string, string, string]
    const phone = truth.chats.get(chatKey(sid, jid))?.phone
    if (Number(level) !== lastLevel || !phone) continue
    const id = deps.contactOf.get(phone)!
    firedPerContact.set(id, (firedPerContact.get(id) ?? 0) + 1)
  }
  const tasksPerContact = new Map<string, number>()
  for (const t of deps.hubspot.tasks)
    for (const a of t.associations)
      tasksPerContact.set(a.toObjectId, (tasksPerContact.get(a.toObjectId) ?? 0) + 1)
  let duplicates = 0
  for (const [id, fired] of firedPerContact) {
    tasks.checked++
    const created = tasksPerContact.get(id) ?? 0
    if (created < fired) fail(tasks, `contact ${id}: ${fired} breaches fired, ${created} HubSpot tasks`)
    duplicates += Math.max(0, created - fired)
  }
  tasks.duplicates = duplicates

  // 8. No job stuck; no job failed without a reason.
  const jobs = invariant()
  const failedByReason: Record<string, number> = {}
  for (const q of deps.queues) {
    jobs.checked++
    const c = await q.getJobCounts('active', 'wait', 'prioritized', 'waiting-children')
    const stuck = (c.active ?? 0) + (c.wait ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0)
    if (stuck > 0) fail(jobs, `${q.name}: ${JSON.stringify(c)} after the drain`)
    for (const j of await q.getFailed(0, 999)) {
      if (!j.failedReason) fail(jobs, `${q.name} job ${j.id}: failed without a reason`)
      const reason = `${q.name}: ${(j.failedReason ?? '').slice(0, 80)}`
      failedByReason[reason] = (failedByReason[reason] ?? 0) + 1
    }
  }
  jobs.failedByReason = failedByReason

  const p = (v: number[]) => ({
    p50: Math.round(percentile(v, 50)),
    p99: Math.round(percentile(v, 99)),
    n: v.length,
  })
  return {
    invariants: {
      receipts,
      chatCounters: chatsInv,
      userCounters: usersInv,
      sla: { ...sla, verdicts, redelivered },
      reminders: { ...rem, verdicts: remVerdicts },
      hubspot: hs,
      hubspotTasks: tasks,
      jobs,
    },
    measured: {
      receiptDelayMs: p(receiptDelays),
      slaLatenessMs: p(slaLateness),
      reminderLatenessMs: p(reminderLateness),
    },
  }
}
