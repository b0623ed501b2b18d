import type { HubSpotStandIn, RequestRecord } from '../../test/hubspot-standin/server.js'
import type { TickbridgeClient, UnansweredCounterDto } from '../client/index.js'
import type { InboxEvent } from '../domain/events.js'
import type { ChatTransition } from '../inbox/chat.js'
import type { Services } from '../services.js'
import type { SlaEvent } from '../sla/sla-store.js'
import { ORG, USERS } from './cast.js'
import { clip, row, secs, type Timeline } from './timeline.js'

const POLL_MS = 300
const SETTLE_MS = 300

interface TrackedReminder {
  sessionId: string
  chatJid: string
  setAt: number
  note: string
  status: string
}

/**
 * Watches the running service from the outside, as a CRM or an operator would: message events from the
 * inbox, what the service did to WhatsApp (sim actions), counters, reminders (API), the SLA breach log, and
 * the HubSpot stand-in's request log; turns each into a timeline line and keeps the figures of the summary.
 */
export class DemoWatch {
  /** Labels of our replies by message id ("anna (phone)"), set by the script before it sends them. */
  readonly authors = new Map<string, string>()
  /** Planned receipt time per `session|chat`, from the receipt planner or the seen API. */
  readonly planned = new Map<string, number>()
  private readonly arrivals = new Map<string, number>()
  /** Replies from our side that mark the chat seen first (markSeenBeforeReply), per `session|chat`. */
  private readonly replies = new Map<string, { at: number; author: string }>()
  private ticks = 0
  private readonly reminders = new Map<string, TrackedReminder>()
  private readonly counters = new Map<string, UnansweredCounterDto>()
  private readonly simCursor = new Map<string, string>()
  private slaCursor: string | undefined
  private requestIndex = 0
  private timer: NodeJS.Timeout | undefined
  private polling: Promise<void> = Promise.resolve()
  private unsubscribe: (() => void) | undefined
  /** When the last timeline line was reported (to tell when the demo has gone quiet). */
  lastActivity = Date.now()

  readonly stats = {
    customerMessages: 0,
    replies: new Map<string, number>(),
    receipts: 0,
    receiptMessages: 0,
    largestReceipt: 0,
    chatModifications: 0,
    remindersSet: 0,
    remindersFired: 0,
    slaLevels: new Map<number, number>(),
    webhooks: 0,
  }

  constructor(
    private readonly deps: {
      services: Services
      tb: TickbridgeClient
      hs: HubSpotStandIn
      timeline: Timeline
      /** Display names by jid. */
      names: Map<string, string>
      /** HubSpot contact id -> customer name. */
      contactNames: Map<string, string>
      sessions: string[]
    },
  ) {}

  private add(entry: Parameters<Timeline['add']>[0]): void {
    this.lastActivity = Date.now()
    this.deps.timeline.add(entry)
  }

  private name(jid: string): string {
    return this.deps.names.get(jid) ?? jid.split('@')[0]!
  }

  start(): void {
    this.unsubscribe = this.deps.services.ingestor.onApplied(this.onApplied)
    this.timer = setInterval(() => {
      this.polling = this.polling.then(() => this.poll()).catch(() => {})
    }, POLL_MS)
  }

  async stop(): Promise<void> {
    this.unsubscribe?.()
    if (this.timer) clearInterval(this.timer)
    await this.polling
    // A last look, so the summary counts everything that happened.
    await this.poll(true).catch(() => {})
  }

  /** Inbox listener: runs after the receipt planner, so a planned receipt is already known. */
  private readonly onApplied = async (event: InboxEvent, t: ChatTransition | null): Promise<void> => {
    if (event.type !== 'message' || !t || t.duplicate) return
    const sid = event.sessionId
    const now = Date.now()
    this.arrivals.set(event.key.id, now)
    const origin = event.origin ?? (event.key.fromMe ? 'phone' : 'customer')
    const author = this.authors.get(event.key.id) ?? origin
    const policy = this.deps.services.rules.current().seenPolicyFor(sid)
    if (event.key.fromMe && origin !== 'phone' && policy?.markSeenBeforeReply) {
      this.replies.set(`${sid}|${t.jid}`, { at: now, author })
    }
    const due = await this.deps.services.receipts.dueAt(sid, t.jid)
    if (due !== null) this.planned.set(`${sid}|${t.jid}`, due)
    const text = `"${clip(event.text ?? `[${event.media ?? 'message'}]`, 64)}"`
    if (!event.key.fromMe) {
      this.stats.customerMessages++
      const from = event.key.participant ? `${this.name(event.key.participant)}: ` : ''
      const ticks =
        policy?.policy === 'auto' && due !== null ? `   (ticks planned in ${secs(due - now)})` : ''
      this.add({
        at: now,
        kind: 'msg',
        session: sid,
        who: this.name(t.jid),
        text: `← ${from}${text}${ticks}`,
      })
      return
    }
    this.stats.replies.set(origin, (this.stats.replies.get(origin) ?? 0) + 1)
    this.add({ at: now, kind: 'msg', session: sid, who: this.name(t.jid), text: `→ ${author}: ${text}` })
  }

  trackReminder(id: string, r: Omit<TrackedReminder, 'status'>): void {
    this.stats.remindersSet++
    this.reminders.set(id, { ...r, status: 'scheduled' })
  }

  /** Reminders set through the API that have not fired (or otherwise ended) yet. */
  remindersPending(): number {
    return [...this.reminders.values()].filter(
      (r) => r.status === 'scheduled' || r.status === 'waiting_for_app_state',
    ).length
  }

  /** One pass over every polled source. */
  async poll(all = false): Promise<void> {
    // Counters about once a second, as a CRM widget would poll them.
    const counters = this.ticks++ % 3 === 0 || all
    await Promise.all([
      ...this.deps.sessions.map((sid) => this.pollActions(sid, all)),
      counters ? this.pollCounters() : undefined,
      this.pollSla(),
      this.pollReminders(),
    ])
    this.pollHubSpot()
  }

  /** What the service did to WhatsApp: receipts (with batch size and delay) and chat modifications. */
  private async pollActions(sid: string, final: boolean): Promise<void> {
    const after = this.simCursor.get(sid)
    const page = await this.deps.tb.sim.actions(sid, { limit: 500, ...(after ? { after } : {}) })
    for (const a of page.items) {
      const at = Date.parse(a.at)
      // A receipt sent for a reply is recorded while the reply is still being handled: leave actions
      // younger than this to the next pass, so the line can say what caused them.
      if (at > Date.now() - SETTLE_MS && !final) break
      this.simCursor.set(sid, a.seq)
      if (a.kind === 'read') {
        const keys = (a.keys ?? []) as Array<{ remoteJid: string; id: string; participant?: string }>
        if (keys.length === 0) continue
        const chat = keys[0]!.remoteJid
        this.stats.receipts++
        this.stats.receiptMessages += keys.length
        this.stats.largestReceipt = Math.max(this.stats.largestReceipt, keys.length)
        const arrived = keys.map((k) => this.arrivals.get(k.id)).filter((v): v is number => v !== undefined)
        const first = arrived.length ? Math.min(...arrived) : undefined
        const planned = this.planned.get(`${sid}|${chat}`)
        const reply = this.replies.get(`${sid}|${chat}`)
        const beforeReply = reply !== undefined && Math.abs(at - reply.at) < 1500
        const n = keys.length
        let text = `✓✓ ${n === 1 ? '1 message' : `${n} messages in one receipt`}`
        if (first !== undefined) {
          text += `, ${secs(at - first)} after ${n === 1 ? 'it arrived' : 'the first'}`
          if (beforeReply) text += `, just before the reply by ${reply.author}`
          else if (planned !== undefined) text += ` (planned ${secs(planned - first)})`
        }
        const senders = [...new Set(keys.flatMap((k) => (k.participant ? [this.name(k.participant)] : [])))]
        if (senders.length) text += `; senders ${senders.join(', ')}`
        this.add({ at, kind: 'seen', session: sid, who: this.name(chat), text })
      } else if (a.kind === 'chatModify' && a.jid) {
        this.stats.chatModifications++
        const what: Record<string, string> = {
          markUnread: 'WhatsApp: unread dot set on the chat',
          markRead: 'WhatsApp: chat marked read',
          archive: 'WhatsApp: chat archived',
          unarchive: 'WhatsApp: chat unarchived',
        }
        const text = what[a.modification ?? ''] ?? `WhatsApp: ${a.modification}`
        this.add({ at, kind: 'wa', session: sid, who: this.name(a.jid), text })
      }
    }
  }

  /** GET /v1/counters/unanswered/{user} for every user; one line whenever any of them changed. */
  private async pollCounters(): Promise<void> {
    const now = Date.now()
    const fresh = await Promise.all(
      USERS.map(async (u) => [u.id, (await this.deps.tb.unansweredCounter(u.id)).data] as const),
    )
    const changed = fresh.some(([id, c]) => {
      const before = this.counters.get(id)
      return !before || before.red !== c.red || before.grey !== c.grey
    })
    for (const [id, c] of fresh) this.counters.set(id, c)
    if (!changed) return
    this.add({
      at: now,
      kind: 'counters',
      text: fresh.map(([id, c]) => `${id} ${counterText(c)}`).join('   '),
    })
  }

  /** The org's breach log: every SLA level fired, with what each action did. */
  private async pollSla(): Promise<void> {
    const page = await this.deps.services.sla.events(ORG, {
      limit: 100,
      ...(this.slaCursor ? { after: this.slaCursor } : { since: this.deps.timeline.t0 }),
    })
    for (const e of page.items) {
      this.slaCursor = e.id
      this.stats.slaLevels.set(e.level + 1, (this.stats.slaLevels.get(e.level + 1) ?? 0) + 1)
      this.add({
        at: e.firedAt,
        kind: 'sla',
        session: e.sessionId,
        who: this.name(e.chatJid),
        text: `level ${e.level + 1} (waiting ${secs(e.dueAt - e.waitingSince)}): ${slaActionsText(e)}`,
      })
    }
  }

  /** Reminders set through the API, until they fire (or are cancelled). */
  private async pollReminders(): Promise<void> {
    for (const [id, r] of this.reminders) {
      if (r.status !== 'scheduled' && r.status !== 'waiting_for_app_state') continue
      const found = (await this.deps.tb.reminders(r.sessionId, r.chatJid)).find((x) => x.reminderId === id)
      if (!found || found.status === r.status) continue
      r.status = found.status
      const who = this.name(r.chatJid)
      const at = Date.now()
      if (found.status === 'done') {
        this.stats.remindersFired++
        this.add({
          at,
          kind: 'reminder',
          session: r.sessionId,
          who,
          text: `fired ${secs(at - r.setAt)} after it was set: the unread dot is back ("${clip(r.note, 40)}")`,
        })
      } else {
        this.add({
          at,
          kind: 'reminder',
          session: r.sessionId,
          who,
          text: `${found.status}${found.detail ? `: ${found.detail}` : ''}`,
        })
      }
    }
  }

  /** The HubSpot stand-in's request log: contact writes (batch sizes) and tasks. */
  private pollHubSpot(): void {
    const requests = this.deps.hs.requests
    for (; this.requestIndex < requests.length; this.requestIndex++) {
      const r = requests[this.requestIndex]!
      if (r.method === 'POST' && r.path === '/crm/v3/objects/contacts/batch/update') {
        this.add({ at: r.at, kind: 'crm', text: this.batchText(r) })
      } else if (r.method === 'POST' && r.path === '/crm/v3/objects/tasks') {
        this.add({ at: r.at, kind: 'crm', ...this.taskText(r) })
      }
    }
  }

  private batchText(r: RequestRecord): string {
    const inputs =
      (r.body as { inputs?: Array<{ id: string; properties: Record<string, string> }> }).inputs ?? []
    const parts = inputs.map((i) => {
      const p = i.properties
      const state = p.wa_sla_state && p.wa_sla_state !== 'ok' ? `, ${p.wa_sla_state}` : ''
      const owner = USERS.find((u) => u.ownerId === p.hubspot_owner_id)?.id
      const name = this.deps.contactNames.get(i.id) ?? `contact ${i.id}`
      return `${name} ${p.wa_unanswered_count ?? '?'} unanswered${state}${owner ? ` (${owner})` : ''}`
    })
    const status = r.status === 200 ? '' : ` → ${r.status}`
    return `HubSpot batch/update, ${inputs.length} contact${inputs.length === 1 ? '' : 's'}${status}: ${parts.join(' · ')}`
  }

  private taskText(r: RequestRecord): { who?: string; text: string } {
    const body = r.body as {
      properties?: Record<string, string>
      associations?: Array<{ to: { id: string } }>
    }
    const p = body.properties ?? {}
    const owner = USERS.find((u) => u.ownerId === p.hubspot_owner_id)?.id ?? p.hubspot_owner_id ?? 'nobody'
    const contact = body.associations?.[0]?.to.id
    return {
      ...(contact ? { who: this.deps.contactNames.get(contact) ?? `contact ${contact}` } : {}),
      text: `HubSpot task for ${owner} (${p.hs_task_priority ?? '?'}): "${clip(p.hs_task_subject ?? '', 60)}"${r.status >= 300 ? ` → ${r.status}` : ''}`,
    }
  }

  onWebhook(hook: { at: number; event: Record<string, unknown>; signed: boolean }): void {
    this.stats.webhooks++
    const e = hook.event
    const level = typeof e.level === 'number' ? e.level : '?'
    this.add({
      at: hook.at,
      kind: 'webhook',
      session: String(e.sessionId ?? ''),
      who: this.name(String(e.chatJid ?? '')),
      text: `POST received: ${e.type} level ${level}, ${e.unanswered} unanswered, owner ${e.owner ?? 'none'}; signature ${hook.signed ? 'valid' : 'INVALID'}`,
    })
  }

  /** Remembers when the seen API planned a receipt (manual line). */
  notePlanned(sid: string, chat: string, at: number): void {
    this.planned.set(`${sid}|${chat}`, at)
  }

  /** The summary table printed at the end. */
  summary(): string[] {
    const s = this.stats
    const origins: Record<string, string> = { phone: 'from phones', bot: 'by the bot', crm: 'from HubSpot' }
    const replies = [...s.replies]
      .map(([origin, n]) => `${n} ${origins[origin] ?? `via ${origin}`}`)
      .join(', ')
    const totalReplies = [...s.replies.values()].reduce((a, b) => a + b, 0)
    const requests = this.deps.hs.requests
    const count = (f: (r: RequestRecord) => boolean) => requests.filter(f).length
    const batches = requests.filter(
      (r) => r.method === 'POST' && r.path === '/crm/v3/objects/contacts/batch/update',
    )
    const contactsWritten = batches
      .filter((r) => r.status === 200 || r.status === 207)
      .reduce((n, r) => n + ((r.body as { inputs?: unknown[] }).inputs?.length ?? 0), 0)
    const searches = count((r) => r.path === '/crm/v3/objects/contacts/search')
    const tasks = count((r) => r.method === 'POST' && r.path === '/crm/v3/objects/tasks' && r.status < 300)
    const setup = count((r) => r.path.startsWith('/crm/v3/properties'))
    const levels = [...s.slaLevels].sort(([a], [b]) => a - b)
    const levelCount = levels.reduce((n, [, v]) => n + v, 0)
    const perReceipt = s.receipts ? (s.receiptMessages / s.receipts).toFixed(1) : '0'
    const lines = [
      row(
        'WhatsApp messages',
        s.customerMessages + totalReplies,
        `${s.customerMessages} from customers, ${totalReplies} replies (${replies || 'none'})`,
      ),
      row(
        'read receipts',
        s.receipts,
        `covering ${s.receiptMessages} messages: ${perReceipt} messages per receipt (largest ${s.largestReceipt})`,
      ),
      row('other WhatsApp actions', s.chatModifications, 'unread dots set, chats marked read'),
      row('reminders fired', s.remindersFired, `of ${s.remindersSet} set through the API`),
      row('SLA levels fired', levelCount, levels.map(([l, n]) => `level ${l}: ${n}`).join(' · ')),
      row('SLA webhooks received', s.webhooks, 'signed, checked by the demo'),
      row(
        'HubSpot calls',
        requests.length,
        `${setup} property setup, ${searches} phone searches, ${batches.length} batch updates, ${tasks} task${tasks === 1 ? '' : 's'}`,
      ),
      row(
        'contacts written',
        contactsWritten,
        `in ${batches.length} batch updates (debounced: several changes, one write)`,
      ),
      row('HubSpot tasks', tasks, 'created by SLA level 2'),
      '',
      `  ${'final counters'.padEnd(34)}${'red'.padStart(5)}${'grey'.padStart(6)}`,
      ...USERS.map((u) => {
        const c = this.counters.get(u.id)
        return `    ${u.label.padEnd(32)}${String(c?.red ?? '?').padStart(5)}${String(c?.grey ?? '?').padStart(6)}`
      }),
    ]
    return lines
  }
}

function counterText(c: UnansweredCounterDto): string {
  if (c.red > 0 && c.grey > 0) return `${c.red} red + ${c.grey} grey`
  if (c.red > 0) return `${c.red} red`
  if (c.grey > 0) return `${c.grey} grey`
  return '0'
}

function slaActionsText(e: SlaEvent): string {
  return e.actions
    .map((a) => {
      if (!a.ok) return `${a.action} skipped (${a.outcome})`
      switch (a.action) {
        case 'markUnread':
          return 'unread dot'
        case 'setState':
          return `state ${a.outcome}`
        case 'crmTask':
          return 'HubSpot task'
        case 'reassign':
          return `reassigned ${a.outcome.replace(/^from /, '').replace(' to ', ' → ')}`
        case 'webhook':
          return 'webhook queued'
        default:
          return `${a.action}: ${a.outcome}`
      }
    })
    .join(' · ')
}
