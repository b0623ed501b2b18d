import type { ReminderService } from '../../src/reminders/reminders.js'
import type { SimNetwork } from '../../src/whatsapp/sim/network.js'
import { chatKey, type SoakChat, type Truth } from './truth.js'

/**
 * The load generator: WhatsApp traffic at a steady rate through the sim network (customers in DMs and
 * groups, agents answering from the phone or the API, bots that do not count as answers) and reminders
 * through the service's own ReminderService. Everything it does goes into the truth first.
 */
export interface LoadPlan {
  sessions: Array<{ id: string; defaultOwner: string | null }>
  chats: number
  rate: number
  seconds: number
  rand: () => number
  /** Reminders are only set this long before the end, so each is due while the soak still watches. */
  reminderLeadMs: [number, number]
}

export interface LoadStats {
  sent: { customer: number; answer: number; bot: number }
  reminders: { created: number; skipped: number }
  injectRetries: number
  achievedRate: number
  /** The generator fell behind its schedule by at most this much (ms). */
  maxBehindMs: number
}

export function buildChats(plan: LoadPlan, truth: Truth): SoakChat[] {
  const chats: SoakChat[] = []
  for (let i = 0; i < plan.chats; i++) {
    const session = plan.sessions[i % plan.sessions.length]!
    const group = i % 10 === 9
    // One DM in 20 is a customer who writes to two of the team's numbers (the previous chat's phone).
    const sharesPhone = !group && i % 20 === 3 && plan.sessions.length > 1
    const phone = sharesPhone ? chats[i - 1]!.phone! : `4915${String(100_000_000 + i)}`
    const chat: SoakChat = {
      sessionId: session.id,
      jid: group ? `120363${String(100_000_000_000 + i)}@g.us` : `${phone}@s.whatsapp.net`,
      group,
      phone: group ? null : phone,
      owner: session.defaultOwner,
    }
    if (sharesPhone && chats[i - 1]!.group) throw new Error('a shared phone needs a DM before it')
    chats.push(chat)
    truth.addChat(chat)
  }
  return chats
}

export const emptyLoadStats = (): LoadStats => ({
  sent: { customer: 0, answer: 0, bot: 0 },
  reminders: { created: 0, skipped: 0 },
  injectRetries: 0,
  achievedRate: 0,
  maxBehindMs: 0,
})

export async function runLoad(deps: {
  plan: LoadPlan
  chats: SoakChat[]
  truth: Truth
  network: SimNetwork
  reminders: ReminderService
  idPrefix: string
  stopped: () => boolean
  /** Filled as the load runs (for a profile taken meanwhile); returned at the end. */
  stats?: LoadStats
}): Promise<LoadStats> {
  const { plan, chats, truth, network, reminders } = deps
  const slow = chats.map(() => plan.rand() < 0.3)
  const lastTs = new Map<string, number>()
  const reminderBusyUntil = new Map<string, number>()
  const stats = deps.stats ?? emptyLoadStats()
  const started = Date.now()
  const endAt = started + plan.seconds * 1000
  const total = Math.floor(plan.rate * plan.seconds)
  let n = 0
  for (; n < total && !deps.stopped(); n++) {
    const due = started + (n * 1000) / plan.rate
    const wait = due - Date.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    else stats.maxBehindMs = Math.max(stats.maxBehindMs, -wait)

    const i = Math.floor(plan.rand() * chats.length)
    const chat = chats[i]!
    const key = chatKey(chat.sessionId, chat.jid)
    const waiting = truth.unanswered(key) > 0
    const r = plan.rand()
    const kind: 'customer' | 'answer' | 'bot' = waiting
      ? r < (slow[i] ? 0.03 : 0.35)
        ? 'answer'
        : r < 0.45
          ? 'bot'
          : 'customer'
      : r < 0.9
        ? 'customer'
        : 'bot'
    // Distinct, increasing timestamps per chat: the truth orders a chat's messages by them.
    const ts = Math.max(Date.now(), (lastTs.get(key) ?? 0) + 1)
    lastTs.set(key, ts)
    const id = `${deps.idPrefix}${n.toString(16).toUpperCase().padStart(10, '0')}`
    truth.record(chat.sessionId, chat.jid, { id, ts, kind })
    stats.sent[kind]++
    const input =
      kind === 'customer'
        ? {
            chatId: chat.jid,
            text: 'hello, a question about my order',
            id,
            timestamp: ts,
            ...(chat.group
              ? { participant: `4917${String(10_000_000 + Math.floor(plan.rand() * 5))}@s.whatsapp.net` }
              : { pushName: 'Customer' }),
          }
        : {
            chatId: chat.jid,
            fromMe: true,
            text: kind === 'bot' ? 'Thanks, we got your message' : 'Here is the answer',
            id,
            timestamp: ts,
            origin:
              kind === 'bot' ? ('bot' as const) : plan.rand() < 0.5 ? ('phone' as const) : ('api' as const),
          }
    await inject(() => network.injectMessage(chat.sessionId, input), stats)

    // About one event in 25 also sets a reminder on a chat the service already knows.
    const now = Date.now()
    if (plan.rand() < 0.04 && now < endAt - plan.reminderLeadMs[1]) {
      const j = Math.floor(plan.rand() * chats.length)
      const target = chats[j]!
      const tkey = chatKey(target.sessionId, target.jid)
      const first = truth.messages.get(tkey)![0]
      if (!first || now - first.ts < 5000 || (reminderBusyUntil.get(tkey) ?? 0) > now) continue
      const lead = plan.reminderLeadMs[0] + plan.rand() * (plan.reminderLeadMs[1] - plan.reminderLeadMs[0])
      try {
        const rem = await reminders.create(target.sessionId, target.jid, { dueAt: now + lead })
        truth.reminders.push({
          id: rem.id,
          sessionId: target.sessionId,
          jid: target.jid,
          createdAt: rem.createdAt,
          dueAt: rem.dueAt,
        })
        // One pending reminder per chat: a second would replace the first (allow for a late firing).
        reminderBusyUntil.set(tkey, rem.dueAt + 60_000)
        stats.reminders.created++
      } catch {
        stats.reminders.skipped++ // Redis restarting, or the chat not ingested yet
      }
    }
  }
  stats.achievedRate = Math.round((n / Math.max(1, Date.now() - started)) * 1000)
  return stats
}

/** Retries an injection until Redis takes it (a restart in progress); a repeat is de-duplicated by id. */
async function inject(fn: () => Promise<unknown>, stats: LoadStats): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fn()
      return
    } catch (err) {
      if (attempt > 600) throw err
      stats.injectRetries++
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}
