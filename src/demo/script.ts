import { randomBytes } from 'node:crypto'
import type { ChatDto, ReminderDto, TickbridgeClient } from '../client/index.js'
import type { MessageOrigin } from '../domain/events.js'
import { formatDuration } from '../rules/duration.js'
import type { SimNetwork } from '../whatsapp/sim/network.js'
import { BOT_LINE, CUSTOMERS, type Customer, GROUP, jidOf, SALES_LINE } from './cast.js'
import { secs, type Timeline } from './timeline.js'
import type { DemoWatch } from './watch.js'

/**
 * The scripted conversations, in seconds after the start (divided by --speed). Customers write through
 * the simulated WhatsApp (as WhatsApp would deliver their messages); the bot and the CRM side use the
 * Tickbridge HTTP API through the typed client. What follows by itself (receipts, SLA levels, the
 * reminder, counters, HubSpot writes) is noted in comments with the rules' thresholds (10 s, 20 s, 30 s).
 */
export interface ScriptContext {
  sim: SimNetwork
  tb: TickbridgeClient
  watch: DemoWatch
  timeline: Timeline
  speed: number
}

type Step = [at: number, run: (x: Actions) => Promise<void>]

const { maria, jonas, lena, paul, ahmed, tom, sara } = CUSTOMERS

export const SCRIPT: Step[] = [
  // A customer writes three messages in a row to the bot line (seen policy auto): one receipt for all.
  [0.5, (x) => x.customer(BOT_LINE, maria, 'Hi! Is the blue rain jacket in stock in size M?')],
  // At the same moment on the sales line (seen policy manual: receipts only when asked). Both contacts
  // are due for HubSpot at the same time: one batch/update carries both.
  [0.5, (x) => x.customer(SALES_LINE, jonas, "Hello, my order #1042 hasn't arrived yet. Could you check?")],
  [1.2, (x) => x.customer(BOT_LINE, maria, 'And do you ship to Austria?')],
  [1.8, (x) => x.customer(BOT_LINE, maria, 'Thanks!')],
  // A group on the bot line: two senders, one receipt naming both.
  [3.5, (x) => x.inGroup(BOT_LINE, tom, 'Hi! We are 6 people, can we book the sunset tour on Saturday?')],
  [4.2, (x) => x.inGroup(BOT_LINE, sara, 'Is there a vegetarian option for lunch?')],
  // The CRM asks for blue ticks on Jonas' message (human delay).
  [5.0, (x) => x.markSeen(SALES_LINE, jonas)],
  // Lena will not get an answer in time: levels 1 (16 s), 2 (26 s) and 3 (36 s) fire.
  [6.0, (x) => x.customer(SALES_LINE, lena, 'Do you offer a discount for orders over 50 pieces?')],
  [6.6, (x) => x.customer(SALES_LINE, lena, 'We would need them by the 15th.')],
  // Answered in time: Maria by the bot, Jonas by Anna from her phone (7.5 s after he wrote).
  [8.0, (x) => x.bot(BOT_LINE, jidOf(maria), 'Yes, M is in stock, and we ship to Austria in 2-3 days.')],
  [8.0, (x) => x.agent(SALES_LINE, jonas, 'anna', "Sorry Jonas, it's with DHL and arrives tomorrow.")],
  [
    9.0,
    (x) => x.bot(BOT_LINE, GROUP.jid, 'Yes to both! 6 seats on hold for Saturday, veggie lunch included.'),
  ],
  // Paul will be answered late: after level 1 (20 s), before level 2 (30 s).
  [10.0, (x) => x.customer(SALES_LINE, paul, 'Could someone call me back about invoice 2291?')],
  [10.0, (x) => x.customer(SALES_LINE, ahmed, 'All sorted now, thanks!')],
  // Nothing to answer: the CRM says so; the counter drops, the SLA clock stops, and HubSpot gets the
  // zero in the same debounced write as the message before it.
  [11.5, (x) => x.noReplyNeeded(SALES_LINE, ahmed)],
  [
    23.0,
    (x) => x.agent(SALES_LINE, paul, 'anna', "Sorry for the wait, Paul! I'll call you back in a moment."),
  ],
  // "Follow up in 10 s": the unread dot comes back at 34 s.
  [24.0, (x) => x.remindIn(SALES_LINE, paul, 10, 'Call Paul back about invoice 2291')],
  // Level 2 at 26 s reassigned Lena to the supervisor, who answers from HubSpot (the CRM): the chat is
  // marked seen before the reply goes out (markSeenBeforeReply), both of Lena's messages in one receipt.
  [
    40.0,
    (x) =>
      x.crm(SALES_LINE, lena, 'dora', 'Hi Lena, Dora here: 12% off from 50 pieces, delivery by the 15th.'),
  ],
]

/** When the last scripted step runs, in seconds (before --speed). */
export const SCRIPT_END = Math.max(...SCRIPT.map(([at]) => at))

const messageId = () => `3EB0${randomBytes(8).toString('hex').toUpperCase()}`

export class Actions {
  constructor(private readonly x: ScriptContext) {}

  private api(sid: string, who: string, text: string): void {
    this.x.timeline.add({ at: Date.now(), kind: 'api', session: sid, who, text })
  }

  async customer(sid: string, who: Customer, text: string): Promise<void> {
    await this.x.sim.injectMessage(sid, { chatId: jidOf(who), text, pushName: who.name, id: messageId() })
  }

  async inGroup(sid: string, who: Customer, text: string): Promise<void> {
    await this.x.sim.injectMessage(sid, {
      chatId: GROUP.jid,
      participant: jidOf(who),
      text,
      pushName: who.name,
      id: messageId(),
    })
  }

  /** The bot answers through the API (POST /v1/sim/sessions/{sid}/messages stands in for its WhatsApp send). */
  async bot(sid: string, chatId: string, text: string): Promise<void> {
    const id = messageId()
    this.x.watch.authors.set(id, 'the bot')
    await this.x.tb.sim.injectMessage(sid, { chatId, text, fromMe: true, origin: 'bot', id })
  }

  /** An agent answers from the phone. */
  async agent(sid: string, who: Customer, agent: string, text: string): Promise<void> {
    await this.reply(sid, who, `${agent} via phone`, 'phone', text)
  }

  /** Someone answers from HubSpot (the CRM integration sends it). */
  async crm(sid: string, who: Customer, user: string, text: string): Promise<void> {
    await this.reply(sid, who, `${user} via HubSpot`, 'crm', text)
  }

  private async reply(
    sid: string,
    who: Customer,
    label: string,
    origin: Exclude<MessageOrigin, 'auto'>,
    text: string,
  ) {
    const id = messageId()
    this.x.watch.authors.set(id, label)
    await this.x.sim.injectMessage(sid, { chatId: jidOf(who), text, fromMe: true, origin, id })
  }

  async markSeen(sid: string, who: Customer): Promise<void> {
    const r = await this.x.tb.markSeen(sid, jidOf(who), { delay: 'human' })
    if (r.plannedAt) this.x.watch.notePlanned(sid, jidOf(who), Date.parse(r.plannedAt))
    const n = r.messageIds.length
    this.api(
      sid,
      who.name,
      `POST /seen: ${n} message${n === 1 ? '' : 's'}, ticks planned in ${r.plannedAt ? secs(Date.parse(r.plannedAt) - Date.now()) : '-'}`,
    )
  }

  async noReplyNeeded(sid: string, who: Customer): Promise<void> {
    const chat: ChatDto = await this.x.tb.noReplyNeeded(sid, jidOf(who))
    this.api(sid, who.name, `POST /no-reply-needed: unanswered now ${chat.unanswered}`)
  }

  async remindIn(sid: string, who: Customer, seconds: number, note: string): Promise<void> {
    const ms = Math.max(1, Math.round((seconds * 1000) / this.x.speed))
    const r = (await this.x.tb.markUnread(sid, jidOf(who), { in: formatDuration(ms), note })) as ReminderDto
    this.x.watch.trackReminder(r.reminderId, { sessionId: sid, chatJid: jidOf(who), setAt: Date.now(), note })
    this.api(sid, who.name, `POST /unread {in: "${formatDuration(ms)}"}: reminder ${r.status}, "${note}"`)
  }
}

/** Runs the steps at their times; resolves after the last one. `aborted` stops it between steps. */
export async function runScript(x: ScriptContext, start: number, aborted: () => boolean): Promise<void> {
  const actions = new Actions(x)
  for (const [at, run] of SCRIPT) {
    const wait = start + (at * 1000) / x.speed - Date.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    if (aborted()) return
    await run(actions)
  }
}
