import type { Client } from '@hubspot/api-client'
import { DateTime } from 'luxon'
import type { Logger } from 'pino'
import type { Clock } from '../src/clock.js'
import type { CrmDirtySet } from '../src/crm/crm-sync.js'
import type { HubSpotBudget } from '../src/crm/hubspot/budget.js'
import { classifyHubSpotError } from '../src/crm/hubspot/errors.js'
import type { HubSpotCrm } from '../src/crm/hubspot/hubspot-crm.js'
import { phoneOf } from '../src/domain/jid.js'
import type { Chat } from '../src/inbox/chat.js'
import type { InboxStore } from '../src/inbox/store.js'
import type { Metrics } from '../src/metrics.js'
import type { Rules } from '../src/rules/compile.js'
import type { SlaStore } from '../src/sla/sla-store.js'

/**
 * `crm-flush`: writes the contact properties of every chat whose debounce window has ended, at most 100
 * contacts per `batch/update` call, within the shared request budget. Runs every second (a job
 * scheduler); several workers may run it at once, each claiming different chats.
 */
const BATCH = 100
/** Batches per run, so one run does not hold the queue for long. */
const MAX_BATCHES = 20

export interface CrmFlushDeps {
  dirty: CrmDirtySet
  inbox: InboxStore
  sla: SlaStore
  hubspot: HubSpotCrm
  client: Client
  budget: HubSpotBudget
  rules: () => Rules
  clock: Clock
  metrics: Metrics
  log: Logger
}

export function crmFlushProcessor(deps: CrmFlushDeps) {
  return async (): Promise<{ written: number; batches: number }> => {
    let written = 0
    let batches = 0
    while (batches < MAX_BATCHES) {
      if (await deps.budget.pausedUntil()) break
      const claimed = await deps.dirty.claim(BATCH)
      if (claimed.length === 0) break
      const outcome = await flushBatch(deps, claimed)
      written += outcome.written
      batches++
      if (outcome.stop) break
    }
    return { written, batches }
  }
}

async function flushBatch(
  deps: CrmFlushDeps,
  claimed: Array<{ sessionId: string; chatJid: string; member: string }>,
): Promise<{ written: number; stop: boolean }> {
  const { dirty, metrics, log } = deps
  const inputs = new Map<string, { properties: Record<string, string>; members: string[]; phone: string }>()
  const settled: string[] = []
  try {
    for (const c of claimed) {
      const chat = await deps.inbox.getChat(c.sessionId, c.chatJid)
      const phone = chat ? (phoneOf(chat.jid) ?? (chat.altJid ? phoneOf(chat.altJid) : undefined)) : undefined
      if (!chat || !phone) {
        // LID-only chats wait for their phone number: a LID mapping marks them again.
        metrics.crmSkipped.inc({ reason: chat ? 'no_phone' : 'no_chat' })
        settled.push(c.member)
        continue
      }
      const contactId = await deps.hubspot.contactByPhone(phone)
      if (!contactId) {
        metrics.crmSkipped.inc({ reason: 'no_contact' })
        settled.push(c.member)
        continue
      }
      await deps.hubspot.linkChat(contactId, c.sessionId, chat.jid)
      const properties = await contactProperties(deps, contactId, c.sessionId, chat)
      const entry = inputs.get(contactId)
      // Two chats of one contact in one batch: both computed the same combined values; one write.
      inputs.set(contactId, { properties, members: [...(entry?.members ?? []), c.member], phone })
    }
  } catch (err) {
    return handleFailure(
      deps,
      claimed.map((c) => c.member),
      err,
    )
  }
  await dirty.done(settled)
  if (inputs.size === 0) return { written: 0, stop: false }
  await deps.budget.take('general')
  try {
    const res = await deps.client.crm.contacts.batchApi.update({
      inputs: [...inputs].map(([id, v]) => ({ id, properties: v.properties })),
    })
    metrics.crmCalls.inc({ call: 'batch_update', outcome: 'ok' })
    metrics.crmBatchSize.observe(inputs.size)
    const failed = new Set<string>()
    for (const e of (
      res as { errors?: Array<{ category?: string; status?: string; context?: { ids?: string[] } }> }
    ).errors ?? []) {
      for (const id of e.context?.ids ?? []) {
        failed.add(id)
        const v = inputs.get(id)
        if (!v) continue
        if (e.category === 'OBJECT_NOT_FOUND') {
          // Deleted or merged in HubSpot: look it up again next time.
          await deps.hubspot.forgetContact(v.phone)
          await dirty.retry(v.members, 1000)
        } else if (e.category === 'RATE_LIMITS') {
          await dirty.retry(v.members, 10_000)
        } else {
          metrics.crmSkipped.inc({ reason: 'rejected' })
          log.error({ contactId: id, category: e.category }, 'HubSpot rejected a contact update')
          await dirty.done(v.members)
        }
      }
    }
    const ok = [...inputs].filter(([id]) => !failed.has(id))
    await dirty.done(ok.flatMap(([, v]) => v.members))
    metrics.crmContactsWritten.inc(ok.length)
    log.info(
      { contacts: inputs.size, written: ok.length, failed: failed.size, chats: claimed.length },
      'HubSpot batch written',
    )
    return { written: ok.length, stop: false }
  } catch (err) {
    return handleFailure(
      deps,
      [...inputs.values()].flatMap((v) => v.members),
      err,
    )
  }
}

async function handleFailure(
  deps: CrmFlushDeps,
  members: string[],
  err: unknown,
): Promise<{ written: number; stop: boolean }> {
  const f = classifyHubSpotError(err)
  deps.metrics.crmCalls.inc({ call: 'batch_update', outcome: f.kind })
  if (f.kind === 'daily_limit') {
    const tz = deps.rules().config.orgs[0]?.hubspot.timeZone ?? 'UTC'
    const midnight = DateTime.fromMillis(deps.clock.now(), { zone: tz })
      .plus({ days: 1 })
      .startOf('day')
      .toMillis()
    await deps.budget.pauseUntil(midnight)
    await deps.dirty.retry(members, midnight - deps.clock.now())
    deps.log.error(
      { until: new Date(midnight).toISOString(), timeZone: tz },
      'HubSpot daily limit reached: CRM sync paused until midnight, changes kept',
    )
    return { written: 0, stop: true }
  }
  if (f.kind === 'rate_limited') {
    await deps.dirty.retry(members, f.retryAfterMs)
    deps.log.warn({ retryInMs: f.retryAfterMs }, 'HubSpot rate limit (429): backing off')
    return { written: 0, stop: true }
  }
  if (f.kind === 'retryable') {
    await deps.dirty.retry(members, 5000)
    deps.log.warn({ status: f.status }, 'HubSpot unavailable: retrying the batch shortly')
    return { written: 0, stop: true }
  }
  await deps.dirty.done(members)
  deps.log.error({ status: f.status, message: f.message }, 'HubSpot refused a batch: dropped')
  return { written: 0, stop: false }
}

const SLA_RANK: Record<string, number> = { ok: 0, warning: 1, breached: 2 }

/**
 * A contact who writes to several of the team's numbers has one chat in each; the contact shows them
 * combined (unanswered summed, the longest wait, the latest activity, the worst SLA state, the owner of
 * the chat written to last), so the value does not depend on which chat happened to be flushed last.
 */
async function contactProperties(
  deps: CrmFlushDeps,
  contactId: string,
  sid: string,
  chat: Chat,
): Promise<Record<string, string>> {
  const links = await deps.hubspot.chatsOf(contactId)
  if (links.length <= 1) return propertiesOf(deps, sid, chat)
  const chats: Array<{ sid: string; chat: Chat }> = []
  for (const l of links) {
    const other =
      l.sessionId === sid && l.chatJid === chat.jid ? chat : await deps.inbox.getChat(l.sessionId, l.chatJid)
    if (other) chats.push({ sid: l.sessionId, chat: other })
  }
  const all = await Promise.all(chats.map((c) => propertiesOf(deps, c.sid, c.chat)))
  const latest = chats.reduce((a, b) => ((b.chat.lastInboundAt ?? 0) > (a.chat.lastInboundAt ?? 0) ? b : a))
  const pick = (name: string, better: (a: string, b: string) => boolean) =>
    all.map((p) => p[name] ?? '').reduce((a, b) => (a === '' ? b : b !== '' && better(b, a) ? b : a), '')
  const owner = all[chats.indexOf(latest)]?.hubspot_owner_id
  return {
    wa_unanswered_count: String(all.reduce((n, p) => n + Number(p.wa_unanswered_count ?? 0), 0)),
    wa_awaiting_reply_since: pick('wa_awaiting_reply_since', (a, b) => a < b),
    wa_last_inbound_at: pick('wa_last_inbound_at', (a, b) => a > b),
    wa_last_outbound_at: pick('wa_last_outbound_at', (a, b) => a > b),
    wa_sla_state: pick('wa_sla_state', (a, b) => (SLA_RANK[a] ?? 0) > (SLA_RANK[b] ?? 0)),
    ...(owner ? { hubspot_owner_id: owner } : {}),
  }
}

async function propertiesOf(deps: CrmFlushDeps, sid: string, chat: Chat): Promise<Record<string, string>> {
  const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : '')
  const clock = await deps.sla.get(sid, chat.jid)
  const owner = chat.owner ? deps.rules().users.get(chat.owner)?.hubspotOwnerId : undefined
  return {
    wa_unanswered_count: String(chat.unanswered),
    wa_awaiting_reply_since: iso(chat.waitingSince),
    wa_last_inbound_at: iso(chat.lastInboundAt),
    wa_last_outbound_at: iso(chat.lastOutboundAt),
    wa_sla_state: clock?.state ?? 'ok',
    ...(owner ? { hubspot_owner_id: owner } : {}),
  }
}
